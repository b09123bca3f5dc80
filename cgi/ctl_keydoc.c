/*
 * One sentence per config key: the documentation that `backupctl config
 * keys` prints and from which the example backupd.conf and backupd.conf(5)
 * are generated. The keys themselves (names, types, defaults, ranges,
 * secrets) come from the key table in lib/cfg.c; a key added there without
 * a line here fails tests/unit/test_ctl_keydoc.c and `make man`.
 */
#include <string.h>

#include "ctl.h"

static const struct {
	const char *name, *doc;
} docs[] = {
	{"listen", "Where the pool listens: unix:/absolute/path (created "
	    "with listen_mode, listen_owner, listen_group), host:port or "
	    "[ipv6]:port (set listen_allowed_clients). Ignored when systemd "
	    "passes a socket (backupd.socket)."},
	{"workers", "The old pool size, an alias: workers = N without pm "
	    "means pm = static with N children (pm_max_children wins when "
	    "given as well; ignored under pm = dynamic or ondemand)."},
	{"max_requests", "A worker exits (and is replaced) after serving this "
	    "many requests; in spawned and CGI modes the process exits."},
	{"request_timeout", "Seconds one request may take; the pool's master "
	    "kills a worker that overruns it (the process exits in spawned "
	    "and CGI modes). Keep nginx's fastcgi_read_timeout and systemd's "
	    "TimeoutStopSec above it."},
	{"db_host", "MariaDB/MySQL host (TCP); unset with db_socket."},
	{"db_port", "MariaDB/MySQL TCP port."},
	{"db_socket", "MariaDB/MySQL unix socket path (instead of db_host)."},
	{"db_user", "Database user of the service (SELECT, INSERT, UPDATE, "
	    "DELETE on the database)."},
	{"db_password", "Password of db_user. Prefer db_password_file."},
	{"db_name", "Database name."},
	{"db_hosts", "Several database nodes (a Galera cluster), comma-"
	    "separated host:port or absolute unix socket paths, tried in "
	    "order; when set it replaces db_host, db_port and db_socket."},
	{"keyring_file", "The keyring: one '<key-id> <base64 key>' line per "
	    "key, the last one encrypts. Mode 0640 root:backupd or 0600."},
	{"jwt_alg", "The one JWT algorithm accepted: HS256/384/512, "
	    "RS256/384/512 or ES256/384/512."},
	{"jwt_key", "HS* shared secret (or PEM public key); prefer "
	    "jwt_key_file."},
	{"jwt_key_file", "File holding the HS* secret or the PEM public key "
	    "(RS*, ES*)."},
	{"jwt_issuer", "Required iss claim (unset: not checked)."},
	{"jwt_audience", "Required aud claim (unset: not checked)."},
	{"jwt_org_claim", "Claim naming the organization every request is "
	    "scoped to."},
	{"jwt_leeway", "Seconds of clock skew allowed on exp/nbf/iat."},
	{"settings_url", "Your UI page the OAuth callback redirects to."},
	{"oauth_redirect_uri", "This service's public OAuth callback URL, "
	    "https://<host>/backup-destinations/oauth/callback, registered "
	    "exactly with each provider."},
	{"google_client_id", "Google OAuth client id (Google Drive)."},
	{"google_client_secret", "Google OAuth client secret; prefer "
	    "google_client_secret_file."},
	{"google_auth_url", "Google's authorization endpoint."},
	{"google_token_url", "Google's token endpoint."},
	{"google_api_url", "Google APIs base URL (Drive)."},
	{"microsoft_client_id", "Microsoft Entra application (client) id "
	    "(OneDrive)."},
	{"microsoft_client_secret", "Microsoft client secret value; prefer "
	    "microsoft_client_secret_file."},
	{"microsoft_login_url", "Microsoft identity platform base URL."},
	{"microsoft_graph_url", "Microsoft Graph base URL."},
	{"gcs_api_url", "Google Cloud Storage JSON API base URL."},
	{"dropbox_client_id", "Dropbox app key (Dropbox)."},
	{"dropbox_client_secret", "Dropbox app secret; prefer "
	    "dropbox_client_secret_file."},
	{"dropbox_auth_url", "Dropbox's authorization endpoint."},
	{"dropbox_api_url", "Dropbox API base URL (RPC endpoints and "
	    "oauth2/token)."},
	{"dropbox_content_url", "Dropbox content API base URL (upload, "
	    "download)."},
	{"egress_deny", "Comma-separated CIDRs refused to connection tests, in "
	    "addition to the built-in list (loopback, link-local, cloud "
	    "metadata endpoints, reserved) and this host's own addresses."},
	{"egress_allow", "Comma-separated CIDRs allowed even when denied; one "
	    "of this host's own addresses only by an exact /32 or /128 "
	    "entry."},
	{"local_roots", "Comma-separated absolute directories under which "
	    "local destinations may be; unset disables the local type. Under "
	    "systemd list them in ReadWritePaths= too."},
	{"ca_file", "Extra CA bundle trusted by connection tests, in addition "
	    "to the system's."},
	{"probe_connect_timeout", "Seconds a connection test may take to "
	    "connect."},
	{"probe_timeout", "Seconds a whole connection test may take."},
	{"max_body", "Request body limit in bytes; keep nginx's "
	    "client_max_body_size equal."},
	{"pm", "Process manager: static (pm_max_children workers), dynamic "
	    "(between pm_min_spare and pm_max_spare idle workers) or ondemand "
	    "(fork when a connection waits, retire after "
	    "pm_process_idle_timeout)."},
	{"pm_max_children", "Most workers the pool runs at once (all of them "
	    "under pm = static)."},
	{"pm_start_servers", "Workers started by pm = dynamic (and after a "
	    "reload)."},
	{"pm_min_spare", "pm = dynamic adds workers while fewer are idle."},
	{"pm_max_spare", "pm = dynamic retires idle workers beyond this many, "
	    "one a second."},
	{"pm_process_idle_timeout", "Seconds an idle worker lives under pm = "
	    "ondemand."},
	{"pm_reserved_for_reads", "Workers never given to outbound work "
	    "(connection tests, OAuth exchanges): probe_slots defaults to "
	    "pm_max_children minus this."},
	{"probe_slots", "Connection tests and OAuth exchanges in flight on "
	    "this host at most; beyond, 429 with Retry-After (0: "
	    "pm_max_children - pm_reserved_for_reads)."},
	{"probe_slots_per_org", "Connection tests and OAuth exchanges in "
	    "flight per organization at most; beyond, 429 with Retry-After."},
	{"ping_path", "URL path answered \"pong\" without the database (for "
	    "health checks); served before routing, without a token."},
	{"status_path", "URL path answering the scoreboard as JSON, or "
	    "OpenMetrics with ?openmetrics; without a token, so nginx allows "
	    "it to 127.0.0.1 only."},
	{"request_slowlog_timeout", "Seconds after which a running request is "
	    "logged once as slow (route, org, state, elapsed); 0: off."},
	{"log_file", "The service log (JSON lines); unset: stderr. Reopened on "
	    "SIGUSR1."},
	{"listen_allowed_clients", "Comma-separated IP addresses allowed to "
	    "connect to a TCP listen (others are closed at accept); unset: "
	    "anyone. Set it whenever listen is TCP."},
	{"listen_owner", "Owner (user name or uid) of a unix listen socket."},
	{"listen_group", "Group (name or gid) of a unix listen socket, e.g. "
	    "nginx's."},
	{"listen_mode", "Octal mode of a unix listen socket."},
	{"local_per_org", "on: each organization's local destinations must "
	    "lie under {root}/{org id} (the operator creates that directory); "
	    "off: every organization may use every root, for a single-tenant "
	    "server only."},
	{"oauth_bind_browser", "on: the OAuth callback requires the "
	    "backupd_oauth cookie that POST /{id}/oauth set in the same "
	    "browser; works when the settings page and the API are same-site. "
	    "Turn off for a cross-site settings page (the weaker flow)."},
	{"min_free_bytes", "A connection test warns when the destination "
	    "reports less free space than this (bytes), or under 10 %."},
};

/* See ctl.h. */
const char *
ctl_key_doc(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
		if (strcmp(docs[i].name, name) == 0)
			return docs[i].doc;
	return NULL;
}
