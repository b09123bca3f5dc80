/*
 * Connection tests ("probes"). A probe runs the checks of the contract's
 * TestResult in order — connect, auth, target, write, read, delete — and stops
 * at the first failure. A delete the destination refuses is a warning, not a
 * failure. Details are short human sentences; a probe never copies a raw
 * remote response or a secret into a detail.
 *
 * Every network transfer goes through probe_curl(): egress policy at connect
 * time, per-type protocol list, redirects off, connect/total timeouts and a
 * byte cap on what is read.
 *
 * Connections (issue 9 item 6): probe_run gives each probe a session (a
 * curl share of the connection cache, DNS cache and TLS sessions) that
 * every probe_curl handle of that probe joins, so all steps of a probe use
 * one connection per host. The session lives exactly as long as one probe
 * (probe_run creates it before and destroys it, closing its connections,
 * after the probe), so nothing of one probe (a logged-in FTP connection, a
 * TLS session) is ever used by another. The egress gate still judges every
 * connection curl opens; a reused one was judged when it was opened.
 */
#ifndef BD_PROBE_H
#define BD_PROBE_H

#include <stdbool.h>
#include <stdint.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "bd_limits.h"
#include "cfg.h"
#include "egress.h"

enum probe_check {
	CHECK_CONNECT,
	CHECK_AUTH,
	CHECK_TARGET,
	CHECK_WRITE,
	CHECK_READ,
	CHECK_DELETE,
	CHECK__MAX
};

#define PROBE_DETAIL_MAX LIM_PROBE_DETAIL_MAX
#define PROBE_WARN_MAX LIM_PROBE_WARN_MAX

struct probe_result {
	bool ok;                /* all checks that ran passed */
	int failed;             /* enum probe_check that failed, -1 if none */
	int nchecks;
	struct {
		enum probe_check check;
		bool ok;
		char detail[PROBE_DETAIL_MAX]; /* "" = none */
	} checks[CHECK__MAX];
	int nwarnings;
	char warnings[PROBE_WARN_MAX][PROBE_DETAIL_MAX];
	int64_t tested_at_ms;   /* unix ms, set by probe_run */
	long latency_ms;        /* set by probe_run */
	/* Fields the probe wants merged into the stored config (e.g. the SFTP
	 * host key pinned on first use). Owned by the result; NULL if none. */
	json_object *config_update;
	/* TestResult.capacity: set by probe_capacity() where the protocol
	 * reports space (known false: null). Bytes; -1: not reported. */
	struct {
		bool known;
		int64_t total, used, free;
	} capacity;
	/* TestResult.observed: what the probe learned about the destination
	 * (never a secret), set through probe_observe(). Owned by the result;
	 * NULL if nothing was observed. */
	json_object *observed;
	/* The credentials expire within LIM_CRED_EXPIRING_DAYS: a passed test
	 * leaves statusReason credentials_expiring (probe_credentials_expire). */
	bool creds_expiring;
};

/* What a probe may use; borrowed for the duration of the probe. */
struct probe_env {
	const struct cfg *cfg;
	const struct egress *egress;
	/* Monotonic ms by which the whole probe must be done (0: none).
	 * probe_run sets it to probe_timeout from the start unless the
	 * caller's (the request's own deadline) comes first, and probe_curl
	 * gives each transfer only what is left, so a slow server that
	 * answers every step cannot stretch a probe to several timeouts. */
	long long deadline_ms;
	/* The organization the destination belongs to (local_per_org: the
	 * local probe confines paths to {root}/{org}); NULL: unknown. */
	const char *org;
	/* The probe's connection session: set by probe_run for the probe it
	 * runs (whatever the caller put here is replaced), NULL elsewhere
	 * (probe_curl then gives each handle its own connections, as for the
	 * OAuth token exchange). Used from the probe's one thread only. */
	struct probe_session *session;
};

typedef void (*probe_fn)(const struct probe_env *env, json_object *config,
    struct probe_result *res);

/* "connect", "auth", ... (static). */
const char *probe_check_name(enum probe_check);

/* Record a passed / failed check; fmt may be NULL for no detail. A failure
 * sets res->ok = false and res->failed. */
void probe_pass(struct probe_result *, enum probe_check, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void probe_fail(struct probe_result *, enum probe_check, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void probe_warn(struct probe_result *, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Record the space at the destination (bytes, -1 where not reported) and
 * warn when free is below the server's min_free_bytes or under 10 % of
 * total. */
void probe_capacity(struct probe_result *, const struct probe_env *,
    int64_t total, int64_t used, int64_t free);

/* Record observed[key] = val (takes val, also on failure; a later call
 * with the same key replaces it). */
void probe_observe(struct probe_result *, const char *key, json_object *val);
void probe_observe_string(struct probe_result *, const char *key,
    const char *val);

/*
 * Record observed.objectLock, the shape every type reports: {"mode",
 * "retainUntil" (RFC 3339), "legalHold"}, each null where the server did
 * not say: mode NULL, until_ms < 0, legal_hold < 0 (else 0 or 1).
 */
void probe_observe_lock(struct probe_result *, const char *mode,
    int64_t until_ms, int legal_hold);

/*
 * The credentials expire at unix ms at_ms (an Azure SAS `se`, a client
 * secret): records observed.credentialsExpireAt (RFC 3339) and, within
 * LIM_CRED_EXPIRING_DAYS, a warning naming `what` and res->creds_expiring.
 * Returns false when they have already expired (the caller fails auth).
 */
bool probe_credentials_expire(struct probe_result *, int64_t at_ms,
    const char *what);

/*
 * Initialise *res, run fn in a fresh connection session (see the top of
 * this file), stamp tested_at_ms and latency_ms. When the probe made TLS
 * connections, observed.tls = {"version": the lowest protocol version any
 * of them negotiated ("TLSv1.3"), "verified": every one's certificate chain
 * was verified}; nothing for a probe over plain http/ftp.
 */
void probe_run(probe_fn fn, const struct probe_env *env, json_object *config,
    struct probe_result *res);

/* Release what the result owns (config_update, observed). */
void probe_result_clear(struct probe_result *);

/* The contract's TestResult object (new reference). */
json_object *probe_result_json(const struct probe_result *);

/* A random probe object name ".backupd-probe-<16 hex>" into out[32]. */
void probe_object_name(char out[32]);

/*
 * A curl transfer with the service's policy applied. probe_curl() returns an
 * easy handle with: egress gate, CURLOPT_PROTOCOLS_STR = protocols,
 * no redirects, connect timeout = probe_connect_timeout, total timeout =
 * probe_timeout, CURLOPT_CAINFO extended by ca_file when set, and a write
 * callback collecting at most LIM_PROBE_MAX_RESPONSE bytes into x->body.
 * The caller sets URL/method/headers, calls curl_easy_perform, then
 * probe_xfer_cleanup(). x->gate.denied tells whether the egress policy
 * refused the connection. Inside probe_run the handle joins the probe's
 * session (CURLOPT_SHARE: connections, DNS, TLS sessions) and reports the
 * TLS of each connection it uses to it (CURLOPT_PREREQFUNCTION); a probe
 * must not replace those two options nor move *x while x->h is alive.
 */
struct probe_xfer {
	CURL *h;
	struct egress_gate gate;
	struct probe_session *session; /* env->session, borrowed */
	char *body;           /* response body, NUL-terminated, malloc'd */
	size_t len;
	bool truncated;       /* more than the cap arrived */
	char errbuf[CURL_ERROR_SIZE];
};
enum bd_err probe_curl(struct probe_xfer *x, const struct probe_env *env,
    const char *protocols);
void probe_xfer_cleanup(struct probe_xfer *x);

/*
 * After a transfer failed with code cc: record the failure with a sentence a
 * person understands, never curl's error buffer (it can quote the remote).
 * Connection-level failures (egress policy, DNS, refused, connect timeout,
 * TLS handshake or certificate, no answer within probe_timeout) fail
 * CHECK_CONNECT; a refused login (CURLE_LOGIN_DENIED) fails CHECK_AUTH;
 * anything else fails `otherwise`. `what` names the step ("uploading the
 * probe object"). Returns the check that was failed.
 */
enum probe_check probe_fail_curl(struct probe_result *,
    const struct probe_xfer *, CURLcode cc, enum probe_check otherwise,
    const char *what);

/*
 * Milliseconds a transfer starting now may take: probe_timeout, cut to what
 * is left until env->deadline_ms (probe_run sets it for the whole probe).
 * 0 or less when the deadline has passed. Every transfer of every probe is
 * bounded by it (probe_curl sets it; probes that run several transfers on
 * one handle set it again before each).
 */
long probe_ms_left(const struct probe_env *env);

/* The probes, one file each (probe_<type>.c). */
void probe_local(const struct probe_env *, json_object *, struct probe_result *);
/* Availability rules (a registry row's `unavailable`): NULL when this
 * server can use the type, else why not (static). */
const char *probe_local_unavailable(const struct cfg *);
/* Whether org can name its directory under a local root: 1..255 bytes of
 * [A-Za-z0-9._-], not starting with '.'. */
bool probe_local_org_ok(const char *org);
/* With local_per_org, why org cannot have local destinations (its id is
 * not one safe directory name): a static sentence, or NULL when it can. */
const char *probe_local_org_unavailable(const struct cfg *, const char *org);
void probe_s3(const struct probe_env *, json_object *, struct probe_result *);
void probe_gcs(const struct probe_env *, json_object *, struct probe_result *);
void probe_azure_blob(const struct probe_env *, json_object *,
    struct probe_result *);
void probe_sftp(const struct probe_env *, json_object *, struct probe_result *);
/* A host key fingerprint as the config spells it ("SHA256:" optional, 43
 * base64 characters, optionally one '=') reduced to its 43 characters
 * into out; false when it does not have that shape. */
#define PROBE_SFTP_FP_LEN 43
bool probe_sftp_fingerprint(const char *v, char out[PROBE_SFTP_FP_LEN + 1]);
void probe_ftp(const struct probe_env *, json_object *, struct probe_result *);
void probe_webdav(const struct probe_env *, json_object *,
    struct probe_result *);
/* OAuth types: the access token is config "_oauth"."accessToken" (oauth.h);
 * the service refreshes it before the probe runs. */
void probe_google_drive(const struct probe_env *, json_object *,
    struct probe_result *);
void probe_onedrive(const struct probe_env *, json_object *,
    struct probe_result *);
void probe_dropbox(const struct probe_env *, json_object *,
    struct probe_result *);
/* SMB 2/3 through libsmbclient (its own sockets: see probe_smb.c). */
void probe_smb(const struct probe_env *, json_object *, struct probe_result *);

#endif
