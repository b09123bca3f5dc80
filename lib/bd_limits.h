/*
 * Every limit in one place, each with its reason. Values that are also
 * configuration keys (max_body, timeouts) are the defaults; the config wins.
 */
#ifndef BD_BD_LIMITS_H
#define BD_BD_LIMITS_H

/* Request body. nginx/backupd-location.conf's client_max_body_size and
 * scripts/stack.sh's default equal it (checked by scripts/style.sh). */
#define LIM_MAX_BODY_DEFAULT 65536L
/* min_free_bytes: a test warns below this much free space (1 GiB). */
#define LIM_MIN_FREE_BYTES_DEFAULT (1024L * 1024 * 1024)
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
/* The probe object's size: random bytes, small enough for any quota or
 * upload limit, large enough that a corrupted read-back shows. */
#define LIM_PROBE_BYTES 64
/* A check's detail and a warning: one sentence, never a remote document. */
#define LIM_PROBE_DETAIL_MAX 256
/* Warnings one TestResult lists; more are dropped. */
#define LIM_PROBE_WARN_MAX 8
/* Credentials (an Azure SAS, a client secret) that expire within this many
 * days get a warning and statusReason credentials_expiring. */
#define LIM_CRED_EXPIRING_DAYS 14
/* A remote error code we may name in a detail, NUL included: the <Code>
 * of S3 and Azure error documents ([A-Za-z0-9.], words like
 * "NoSuchBucket"), and the codes of Google and Graph JSON errors (shorter:
 * "insufficientPermissions", no prose). */
#define LIM_PROBE_XML_CODE_MAX 64
#define LIM_PROBE_JSON_CODE_MAX 40
/* Nesting accepted in a remote JSON body: Google's and Microsoft's error
 * documents nest 4 deep; some slack for other bodies. */
#define LIM_PROBE_JSON_DEPTH 16
/* Access tokens a probe accepts: Google's are a few hundred bytes (its
 * docs reserve 2048); Microsoft's are JWTs of a few KB. */
#define LIM_GOOGLE_TOKEN_MAX 4096
#define LIM_MICROSOFT_TOKEN_MAX 8192
/* Dropbox's short-lived access tokens ("sl.") are about 1.3 KB. */
#define LIM_DROPBOX_TOKEN_MAX 8192
/* A Drive file id or a Graph item id (Drive ids are ~33, Graph ~40). */
#define LIM_PROBE_ID_MAX 256
/* An Azure account key, decoded: real keys are 64 bytes; dtype allows a
 * little more. */
#define LIM_AZURE_KEY_MAX 256
/* The GCS assertion's lifetime: Google accepts at most one hour. */
#define LIM_GCS_ASSERTION_TTL 3600
/* SFTP: a directory URL and the raw path of a quote command, enough for a
 * LIM_SHORT_MAX path with every byte percent-encoded. */
#define LIM_SFTP_URL_MAX 4096
#define LIM_SFTP_PATH_MAX 2048
/* observed.serverSoftware: bytes kept of a server's banner (SSH
 * identification string, FTP 220 greeting, HTTP Server header). */
#define LIM_PROBE_BANNER_MAX 100
/* SftpConfig.hostKeySha256Alternates: items (the contract's maxItems). */
#define LIM_SFTP_ALT_KEYS 4
/* Bytes of names the SFTP probe's target check reads from a listing. Read
 * to its end the transfer keeps the SSH connection for the next steps (an
 * aborted one makes curl close it: a second TCP + key exchange + login);
 * 16 KiB is about two of OpenSSH's READDIR answers (100 names each), fewer
 * round trips than a new connection. A longer listing is cut (and the
 * next step reconnects). */
#define LIM_SFTP_LIST_BYTES (16L * 1024)
/* The cleanup of a probe object left after a failure gets at least this
 * long, even when the probe's own time is used up. */
#define LIM_PROBE_CLEANUP_MIN_MS 2000L
/* Files read whole at start: a PEM JWT key, the config, the keyring. */
#define LIM_JWT_KEY_FILE_MAX (64L * 1024)
#define LIM_CONFIG_FILE_MAX (1024L * 1024)
#define LIM_KEYRING_FILE_MAX (1024L * 1024)
/* Defaults for the pool and the probes (config keys override). */
#define LIM_WORKERS_DEFAULT 4
/* Process manager: the default ceiling, and the most workers a pool may
 * have (the scoreboard has room for two generations of them: a reload
 * starts the new workers before the old ones leave). */
#define LIM_PM_MAX_CHILDREN_DEFAULT 32
#define LIM_PM_MAX_CHILDREN 256
#define LIM_SB_WORKERS (2 * LIM_PM_MAX_CHILDREN)
/* Heap a worker keeps between requests instead of trimming it. */
#define LIM_WORKER_HEAP_KEEP (8 * 1024 * 1024)
/* Addresses in listen_allowed_clients. */
#define LIM_ALLOWED_CLIENTS 64
#define LIM_MAX_REQUESTS_DEFAULT 10000
#define LIM_REQUEST_TIMEOUT_DEFAULT 60
#define LIM_PROBE_CONNECT_TIMEOUT_DEFAULT 5
#define LIM_PROBE_TIMEOUT_DEFAULT 20
#define LIM_JWT_LEEWAY_DEFAULT 60
/* Pending connections on the pool's socket (nginx retries past it). */
#define LIM_LISTEN_BACKLOG 128
/* A respawning worker waits at most this long between attempts. */
#define LIM_RESPAWN_BACKOFF_MAX_MS 5000
/* An OAuth access token is refreshed when it expires within this margin,
 * so it cannot expire during the probe that follows. */
#define LIM_OAUTH_REFRESH_MARGIN_MS 60000
/* Retry-After (seconds) on a 503 while the database is away. */
#define LIM_RETRY_AFTER_S 5
/* OAuth state lifetime (issue: 10 minutes). */
#define LIM_OAUTH_STATE_TTL 600
/* Unused OAuth states kept per destination and per org; a new start drops
 * the oldest past these (issue 13: an admin cannot grow the table). */
#define LIM_OAUTH_STATES_PER_DEST 5
#define LIM_OAUTH_STATES_PER_ORG 50
/* Rows re-encrypted per transaction by `backupctl rekey`. */
#define LIM_REKEY_BATCH 100
/* Audit entries deleted per statement by backupctl audit prune. */
#define LIM_AUDIT_PRUNE_BATCH 5000
/* Connect timeout to the database: a dead DB answers 503 fast. */
#define LIM_DB_CONNECT_TIMEOUT 2
#define LIM_DB_RW_TIMEOUT 10
/* After a failed connect a worker answers 503 without retrying this long. */
#define LIM_DB_RETRY_MS 500
/* Database nodes in db_hosts (a Galera cluster has 3 to 5). */
#define LIM_DB_HOSTS_MAX 8
/* A read-modify-write that loses a lock conflict (deadlock 1213, Galera
 * certification failure, lock wait 1205) is run again from BEGIN, at most
 * this many times in all: after a re-run it sees the winner's commit. */
#define LIM_DB_TX_ATTEMPTS 5
/* Back-off before re-run n (1..): uniform in [0, base << (n - 1)] ms. The
 * winner's write set is usually applied on every node within a few ms. */
#define LIM_DB_TX_BACKOFF_MS 8

#endif
