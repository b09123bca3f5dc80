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
	    "mode 0660), host:port or [ipv6]:port. Ignored when systemd passes "
	    "a socket (backupd.socket)."},
	{"workers", "Number of worker processes of the pool."},
	{"max_requests", "A worker exits (and is replaced) after serving this "
	    "many requests; in spawned and CGI modes the process exits."},
	{"request_timeout", "Seconds one request may take; a worker that "
	    "overruns it exits. Keep nginx's fastcgi_read_timeout and systemd's "
	    "TimeoutStopSec above it."},
	{"db_host", "MariaDB/MySQL host (TCP); unset with db_socket."},
	{"db_port", "MariaDB/MySQL TCP port."},
	{"db_socket", "MariaDB/MySQL unix socket path (instead of db_host)."},
	{"db_user", "Database user of the service (SELECT, INSERT, UPDATE, "
	    "DELETE on the database)."},
	{"db_password", "Password of db_user. Prefer db_password_file."},
	{"db_name", "Database name."},
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
	{"local_per_org", "on: each organization's local destinations must "
	    "lie under {root}/{org id} (the operator creates that directory); "
	    "off: every organization may use every root, for a single-tenant "
	    "server only."},
	{"oauth_bind_browser", "on: the OAuth callback requires the "
	    "backupd_oauth cookie that POST /{id}/oauth set in the same "
	    "browser; works when the settings page and the API are same-site. "
	    "Turn off for a cross-site settings page (the weaker flow)."},
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
