/*
 * Probe plumbing shared by every destination type: recording checks, the
 * TestResult document, probe object names and the policed curl handle.
 * The per-type probes live in probe_<type>.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>
#include <sodium.h>

#include "clock.h"
#include "bd_limits.h"
#include "probe.h"
#include "wipe.h"

static const char *const check_names[CHECK__MAX] = {
	[CHECK_CONNECT] = "connect",
	[CHECK_AUTH] = "auth",
	[CHECK_TARGET] = "target",
	[CHECK_WRITE] = "write",
	[CHECK_READ] = "read",
	[CHECK_DELETE] = "delete",
};

/* The contract's check name; "unknown" outside the enum (static). */
const char *
probe_check_name(enum probe_check c)
{
	if ((unsigned)c >= CHECK__MAX)
		return "unknown";
	return check_names[c];
}

static void format_detail(char *, size_t, const char *, va_list)
    __attribute__((format(printf, 3, 0)));
static void record(struct probe_result *, enum probe_check, bool,
    const char *, va_list) __attribute__((format(printf, 4, 0)));

/*
 * vsnprintf into buf, then, if the text was cut, drop a UTF-8 sequence the
 * cut left incomplete so the detail stays valid UTF-8 in the JSON output.
 */
static void
format_detail(char *buf, size_t size, const char *fmt, va_list ap)
{
	size_t len, i, need;
	unsigned char c;
	int n;

	buf[0] = '\0';
	if (fmt == NULL)
		return;
	n = vsnprintf(buf, size, fmt, ap);
	if (n < 0) {
		buf[0] = '\0';
		return;
	}
	if ((size_t)n < size)
		return;
	len = strlen(buf);
	/* Walk back over continuation bytes to the last lead byte. */
	for (i = len; i > 0 && len - i < 4; i--) {
		c = (unsigned char)buf[i - 1];
		if ((c & 0xc0) == 0x80)
			continue;
		need = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 :
		    (c & 0xf0) == 0xe0 ? 3 : 4;
		if (len - (i - 1) < need)
			buf[i - 1] = '\0';
		break;
	}
}

static void
record(struct probe_result *r, enum probe_check c, bool ok, const char *fmt,
    va_list ap)
{
	int i;

	if (!ok) {
		r->ok = false;
		if (r->failed < 0)
			r->failed = (int)c;
	}
	if (r->nchecks < 0 || r->nchecks >= CHECK__MAX)
		return;
	i = r->nchecks++;
	r->checks[i].check = c;
	r->checks[i].ok = ok;
	format_detail(r->checks[i].detail, sizeof(r->checks[i].detail), fmt,
	    ap);
}

/* See probe.h. A check past CHECK__MAX entries still counts for ok/failed
 * but is not listed. */
void
probe_pass(struct probe_result *r, enum probe_check c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	record(r, c, true, fmt, ap);
	va_end(ap);
}

/* See probe.h. The first failure is the one reported as failedCheck. */
void
probe_fail(struct probe_result *r, enum probe_check c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	record(r, c, false, fmt, ap);
	va_end(ap);
}

/* See probe.h. Warnings past PROBE_WARN_MAX are dropped. */
void
probe_warn(struct probe_result *r, const char *fmt, ...)
{
	va_list ap;

	if (r->nwarnings < 0 || r->nwarnings >= PROBE_WARN_MAX || fmt == NULL)
		return;
	va_start(ap, fmt);
	format_detail(r->warnings[r->nwarnings], PROBE_DETAIL_MAX, fmt, ap);
	va_end(ap);
	r->nwarnings++;
}

/*
 * A probe's connection session (probe.h). The share has no lock callbacks:
 * one probe runs on one thread, and the session is never handed to another
 * probe. The TLS fields summarise every TLS connection the probe used.
 */
struct probe_session {
	CURLSH *sh;
	int tls_min;            /* lowest SSL_version() seen; 0: no TLS */
	char tls_name[16];      /* its SSL_get_version() name */
	bool tls_unverified;    /* some connection's chain was not verified */
};

static void session_end(struct probe_session *, struct probe_result *);

/* A session sharing connections, DNS answers and TLS sessions; NULL when
 * out of memory (the probe then runs without one, as outside probe_run). */
static struct probe_session *
session_new(void)
{
	struct probe_session *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if ((s->sh = curl_share_init()) == NULL ||
	    curl_share_setopt(s->sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) !=
	    CURLSHE_OK ||
	    curl_share_setopt(s->sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) !=
	    CURLSHE_OK ||
	    curl_share_setopt(s->sh, CURLSHOPT_SHARE,
	    CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK) {
		session_end(s, NULL);
		return NULL;
	}
	return s;
}

/*
 * Record observed.tls into res (when not NULL and a TLS connection was
 * seen), then close the session's connections (an FTP connection gets its
 * QUIT, bounded by the last handle's timeouts, which curl copies to the
 * cache's closing handle) and free it.
 */
static void
session_end(struct probe_session *s, struct probe_result *res)
{
	json_object *tls;

	if (s == NULL)
		return;
	if (res != NULL && s->tls_min > 0 &&
	    (tls = json_object_new_object()) != NULL) {
		json_object_object_add(tls, "version",
		    json_object_new_string(s->tls_name));
		json_object_object_add(tls, "verified",
		    json_object_new_boolean(!s->tls_unverified));
		probe_observe(res, "tls", tls);
	}
	/* CURLSHE_IN_USE: a handle of the probe was not cleaned up (a bug
	 * in that probe); leaking the share beats freeing it under the
	 * handle. */
	if (s->sh != NULL && curl_share_cleanup(s->sh) != CURLSHE_OK)
		return;
	free(s);
}

/*
 * CURLOPT_PREREQFUNCTION: called once the connection of a transfer is
 * ready (new or reused, TLS handshake done) and before the request, while
 * CURLINFO_TLS_SSL_PTR still reaches the connection's SSL (after the
 * transfer it no longer does). Records the connection's TLS version and
 * whether OpenSSL verified the peer's chain: peer verification was
 * required and its result is X509_V_OK. The host name check is curl's
 * (CURLOPT_SSL_VERIFYHOST, on by default; no probe turns it off) and a
 * mismatch fails the handshake before this runs. Not OpenSSL (another
 * libcurl build): nothing is recorded.
 */
static int
on_prereq(void *clientp, char *primary_ip, char *local_ip, int primary_port,
    int local_port)
{
	struct probe_xfer *x = clientp;
	struct probe_session *s = x->session;
	struct curl_tlssessioninfo *tsi = NULL;
	SSL *ssl;
	int v;

	if (s == NULL || curl_easy_getinfo(x->h, CURLINFO_TLS_SSL_PTR, &tsi) !=
	    CURLE_OK || tsi == NULL || tsi->backend != CURLSSLBACKEND_OPENSSL ||
	    (ssl = tsi->internals) == NULL || (v = SSL_version(ssl)) <= 0)
		return CURL_PREREQFUNC_OK;
	if (s->tls_min == 0 || v < s->tls_min) {
		s->tls_min = v;
		snprintf(s->tls_name, sizeof(s->tls_name), "%s",
		    SSL_get_version(ssl));
	}
	if ((SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) == 0 ||
	    SSL_get_verify_result(ssl) != X509_V_OK ||
	    SSL_get0_peer_certificate(ssl) == NULL)
		s->tls_unverified = true;
	return CURL_PREREQFUNC_OK;
}

/*
 * See probe.h. *res is zeroed first (a previous config_update must have
 * been released by the caller). testedAt is the wall clock when the test
 * started; the latency comes from the monotonic clock, so a clock step
 * during the test does not show. fn NULL (no probe for the type yet) fails
 * the connect check.
 */
void
probe_run(probe_fn fn, const struct probe_env *env, json_object *config,
    struct probe_result *res)
{
	struct probe_env bounded;
	struct probe_session *session = NULL;
	long long t0;

	memset(res, 0, sizeof(*res));
	res->ok = true;
	res->failed = -1;
	res->tested_at_ms = clock_real_ms();
	t0 = clock_mono_ms();
	if (env != NULL) {
		bounded = *env;
		/* probe_timeout from now, or less when the caller's deadline
		 * (what is left of the request: an OAuth refresh may have
		 * spent some of it) comes first. */
		if (env->cfg != NULL && env->cfg->probe_timeout > 0 &&
		    (bounded.deadline_ms == 0 || bounded.deadline_ms > t0 +
		    (long long)env->cfg->probe_timeout * 1000))
			bounded.deadline_ms = t0 +
			    (long long)env->cfg->probe_timeout * 1000;
		/* This probe's own connections, whatever the caller had. */
		bounded.session = session = session_new();
		env = &bounded;
	}
	if (fn == NULL)
		probe_fail(res, CHECK_CONNECT,
		    "connection tests are not available for this type yet");
	else
		fn(env, config, res);
	/* The connections close here, inside the measured time (as an FTP
	 * probe's QUIT did when each probe closed its own). */
	session_end(session, res);
	res->latency_ms = (long)(clock_mono_ms() - t0);
	if (res->latency_ms < 0)
		res->latency_ms = 0;
}

/* See probe.h; safe to call twice. */
void
probe_result_clear(struct probe_result *res)
{
	if (res == NULL)
		return;
	json_object_put(res->config_update);
	res->config_update = NULL;
	json_object_put(res->observed);
	res->observed = NULL;
}

/* See probe.h. Out of memory: the fact is dropped. */
void
probe_observe(struct probe_result *res, const char *key, json_object *val)
{
	if (res->observed == NULL &&
	    (res->observed = json_object_new_object()) == NULL) {
		json_object_put(val);
		return;
	}
	json_object_object_add(res->observed, key, val);
}

void
probe_observe_string(struct probe_result *res, const char *key,
    const char *val)
{
	if (val != NULL)
		probe_observe(res, key, json_object_new_string(val));
}

/* See probe.h. Out of memory: the fact is dropped. */
void
probe_observe_lock(struct probe_result *res, const char *mode,
    int64_t until_ms, int legal_hold)
{
	json_object *o;
	char ts[32];

	if ((o = json_object_new_object()) == NULL)
		return;
	if (until_ms >= 0)
		clock_format_ms(until_ms, CLOCK_RFC3339, ts);
	json_object_object_add(o, "mode", mode != NULL ?
	    json_object_new_string(mode) : NULL);
	json_object_object_add(o, "retainUntil", until_ms >= 0 ?
	    json_object_new_string(ts) : NULL);
	json_object_object_add(o, "legalHold", legal_hold < 0 ? NULL :
	    json_object_new_boolean(legal_hold == 1));
	probe_observe(res, "objectLock", o);
}

bool
probe_credentials_expire(struct probe_result *res, int64_t at_ms,
    const char *what)
{
	const int64_t window = (int64_t)LIM_CRED_EXPIRING_DAYS * 86400 * 1000;
	int64_t now = clock_real_ms(), left = at_ms - now;
	char ts[32];

	clock_format_ms(at_ms, CLOCK_RFC3339, ts);
	probe_observe_string(res, "credentialsExpireAt", ts);
	if (left <= 0)
		return false;
	if (left <= window) {
		res->creds_expiring = true;
		probe_warn(res, "the %s expires on %s (in %lld days): renew it "
		    "before then", what, ts, (long long)(left / 86400000));
	}
	return true;
}

/* See probe.h: {ok, testedAt, latencyMs, checks[{name, ok, detail?}],
 * warnings[]}; warnings is always present. NULL only when out of memory. */
static json_object *
bytes_json(int64_t n)
{
	return n >= 0 ? json_object_new_int64(n) : NULL;
}

/* TestResult.capacity: null, or the three counts (each null when not
 * reported). */
static json_object *
capacity_json(const struct probe_result *r)
{
	json_object *c;

	if (!r->capacity.known || (c = json_object_new_object()) == NULL)
		return NULL;
	json_object_object_add(c, "totalBytes", bytes_json(r->capacity.total));
	json_object_object_add(c, "usedBytes", bytes_json(r->capacity.used));
	json_object_object_add(c, "freeBytes", bytes_json(r->capacity.free));
	return c;
}

void
probe_capacity(struct probe_result *res, const struct probe_env *env,
    int64_t total, int64_t used, int64_t free)
{
	const double gib = 1024.0 * 1024 * 1024;
	long min = env != NULL && env->cfg != NULL ?
	    env->cfg->min_free_bytes : 0;

	res->capacity.known = true;
	res->capacity.total = total < 0 ? -1 : total;
	res->capacity.used = used < 0 ? -1 : used;
	res->capacity.free = free < 0 ? -1 : free;
	if (free < 0)
		return;
	if (free < min)
		probe_warn(res, "only %.2f GiB free at the destination, below "
		    "the server's min_free_bytes (%.2f GiB)", (double)free / gib,
		    (double)min / gib);
	else if (total > 0 && free < total / 10)
		probe_warn(res, "only %.2f GiB of %.2f GiB free at the "
		    "destination (less than 10 %%)", (double)free / gib,
		    (double)total / gib);
}

json_object *
probe_result_json(const struct probe_result *r)
{
	json_object *o, *checks, *warnings, *c;
	char ts[32];
	int i;

	o = json_object_new_object();
	checks = json_object_new_array();
	warnings = json_object_new_array();
	if (o == NULL || checks == NULL || warnings == NULL)
		goto fail;
	clock_format_ms(r->tested_at_ms, CLOCK_RFC3339, ts);
	json_object_object_add(o, "ok", json_object_new_boolean(r->ok));
	json_object_object_add(o, "testedAt", json_object_new_string(ts));
	json_object_object_add(o, "latencyMs",
	    json_object_new_int64(r->latency_ms));
	for (i = 0; i < r->nchecks && i < CHECK__MAX; i++) {
		if ((c = json_object_new_object()) == NULL)
			goto fail;
		json_object_object_add(c, "name", json_object_new_string(
		    probe_check_name(r->checks[i].check)));
		json_object_object_add(c, "ok",
		    json_object_new_boolean(r->checks[i].ok));
		if (r->checks[i].detail[0] != '\0')
			json_object_object_add(c, "detail",
			    json_object_new_string(r->checks[i].detail));
		json_object_array_add(checks, c);
	}
	for (i = 0; i < r->nwarnings && i < PROBE_WARN_MAX; i++)
		json_object_array_add(warnings,
		    json_object_new_string(r->warnings[i]));
	json_object_object_add(o, "checks", checks);
	json_object_object_add(o, "warnings", warnings);
	json_object_object_add(o, "capacity", capacity_json(r));
	if (r->observed != NULL)
		json_object_object_add(o, "observed",
		    json_object_get(r->observed));
	return o;
fail:
	json_object_put(o);
	json_object_put(checks);
	json_object_put(warnings);
	return NULL;
}

/* See probe.h: ".backupd-probe-" + 16 hex digits of fresh randomness. */
void
probe_object_name(char out[32])
{
	unsigned char rnd[8];
	char hex[2 * sizeof(rnd) + 1];

	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
	snprintf(out, 32, ".backupd-probe-%s", hex);
}

/* Collect the body up to LIM_PROBE_MAX_RESPONSE bytes. Past the cap it keeps
 * what fits and returns a short count, which makes curl abort the transfer
 * with CURLE_WRITE_ERROR: a remote cannot make a probe buffer gigabytes. */
static size_t
on_body(char *data, size_t size, size_t nmemb, void *userp)
{
	struct probe_xfer *x = userp;
	size_t len = size * nmemb, room, take;
	char *p;

	room = (size_t)LIM_PROBE_MAX_RESPONSE - x->len;
	take = len < room ? len : room;
	if (take > 0) {
		/* Grown by copying, the old buffer wiped: OAuth token answers
		 * pass through here. */
		if ((p = malloc(x->len + take + 1)) == NULL)
			return 0;
		memcpy(p, x->body, x->len);
		wipe_free(x->body, x->len);
		x->body = p;
		memcpy(x->body + x->len, data, take);
		x->len += take;
		x->body[x->len] = '\0';
	}
	if (take < len) {
		x->truncated = true;
		return 0;
	}
	return len;
}

/* See probe.h. Without a deadline (a probe called outside probe_run) each
 * transfer gets probe_timeout. */
long
probe_ms_left(const struct probe_env *env)
{
	const struct cfg *c = env != NULL ? env->cfg : NULL;
	long long tt = LIM_PROBE_TIMEOUT_DEFAULT, left;

	if (c != NULL && c->probe_timeout > 0)
		tt = c->probe_timeout;
	tt *= 1000;
	if (env != NULL && env->deadline_ms > 0) {
		left = env->deadline_ms - clock_mono_ms();
		if (left < tt)
			tt = left;
	}
	return tt < -1000000 ? -1000000 : (long)tt;
}

/*
 * See probe.h. *x is zeroed first; on success x->h is ready and x->body is
 * an empty string; the caller calls probe_xfer_cleanup() in every case
 * (also after a failure here). BD_ERR_INTERNAL without an egress policy:
 * a probe never connects unpoliced. BD_ERR_NOMEM if curl cannot start.
 */
enum bd_err
probe_curl(struct probe_xfer *x, const struct probe_env *env,
    const char *protocols)
{
	enum bd_err rc = BD_ERR_INTERNAL;
	const struct cfg *c = env != NULL ? env->cfg : NULL;
	long ct = LIM_PROBE_CONNECT_TIMEOUT_DEFAULT, tt;
	CURL *h;

	memset(x, 0, sizeof(*x));
	if (env == NULL || env->egress == NULL || protocols == NULL)
		goto out;
	rc = BD_ERR_NOMEM;
	if ((x->body = calloc(1, 1)) == NULL)
		goto out;
	if ((x->h = h = curl_easy_init()) == NULL)
		goto out;
	if (c != NULL && c->probe_connect_timeout > 0)
		ct = c->probe_connect_timeout;
	/* Past the deadline: 1 ms, so the transfer fails as a timeout. */
	if ((tt = probe_ms_left(env)) <= 0)
		tt = 1;

	rc = BD_ERR_INTERNAL;
	x->gate.policy = env->egress;
	x->gate.denied = false;
	egress_attach(h, &x->gate);
	/* The probe's session: its connections, DNS answers, TLS sessions;
	 * the gate above still judges every connection this handle opens. */
	x->session = env->session;
	if (x->session != NULL &&
	    (curl_easy_setopt(h, CURLOPT_SHARE, x->session->sh) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_PREREQFUNCTION, on_prereq) !=
	    CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_PREREQDATA, x) != CURLE_OK))
		goto out;
	if (curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, protocols) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, protocols) !=
	    CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, ct) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, tt) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->errbuf) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_WRITEDATA, x) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_USERAGENT, "backupd-probe/1") !=
	    CURLE_OK)
		goto out;
	/*
	 * An http_proxy/https_proxy in the environment would make curl
	 * connect to the proxy, and the egress gate would judge the proxy's
	 * address instead of the destination's. "" disables proxies, also
	 * those from the environment (CURLOPT_PROXY).
	 */
	if (curl_easy_setopt(h, CURLOPT_PROXY, "") != CURLE_OK)
		goto out;
	/*
	 * ca_file adds a CA (a private CA of a NAS or MinIO) to the system
	 * ones. curl takes a single CAINFO file, so the extra file goes to
	 * CAINFO and the system store stays reachable through CAPATH: the
	 * OpenSSL backend (Debian's libcurl) verifies against both. Without
	 * ca_file, curl's built-in defaults (bundle + path) apply unchanged.
	 */
	if (c != NULL && c->ca_file != NULL && c->ca_file[0] != '\0' &&
	    (curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_CAPATH, "/etc/ssl/certs") != CURLE_OK))
		goto out;
	rc = BD_OK;
out:
	return rc;
}

/* See probe.h. Safe on a zeroed or already cleaned-up xfer. The body is
 * wiped: OAuth token responses pass through here too. */
void
probe_xfer_cleanup(struct probe_xfer *x)
{
	if (x == NULL)
		return;
	if (x->h != NULL)
		curl_easy_cleanup(x->h);
	wipe_free(x->body, x->len);
	x->h = NULL;
	x->session = NULL;
	x->body = NULL;
	x->len = 0;
	x->truncated = false;
}

enum probe_check
probe_fail_curl(struct probe_result *res, const struct probe_xfer *x,
    CURLcode cc, enum probe_check otherwise, const char *what)
{
	char *host = NULL;
	long port = 0;
	curl_off_t connect_us = 0, pretransfer_us = 0;
	enum probe_check chk = CHECK_CONNECT;

	if (x->h != NULL) {
		curl_easy_getinfo(x->h, CURLINFO_PRIMARY_PORT, &port);
		curl_easy_getinfo(x->h, CURLINFO_CONNECT_TIME_T, &connect_us);
		/* A connection reused from the probe's session has no connect
		 * time of its own; having reached the request stage says the
		 * server had accepted it. */
		curl_easy_getinfo(x->h, CURLINFO_PRETRANSFER_TIME_T,
		    &pretransfer_us);
		curl_easy_getinfo(x->h, CURLINFO_PRIMARY_IP, &host);
	}
	if (x->gate.denied) {
		probe_fail(res, chk, "the destination's address is not allowed "
		    "by this server's egress policy (loopback, link-local and "
		    "metadata addresses are refused)");
		return chk;
	}
	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
		probe_fail(res, chk, "the host name does not resolve");
		break;
	case CURLE_COULDNT_CONNECT:
		probe_fail(res, chk, "nothing accepts connections at the "
		    "destination's address and port");
		break;
	case CURLE_OPERATION_TIMEDOUT:
		if (connect_us == 0 && pretransfer_us == 0)
			probe_fail(res, chk, "the connection timed out");
		else
			probe_fail(res, chk, "the server accepted the connection "
			    "but did not answer in time while %s", what);
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
		probe_fail(res, chk, "the server's TLS certificate is not "
		    "trusted or does not match the host name");
		break;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_USE_SSL_FAILED:
		probe_fail(res, chk, "the TLS handshake failed (%s)",
		    curl_easy_strerror(cc));
		break;
	case CURLE_UNSUPPORTED_PROTOCOL:
		probe_fail(res, chk, "the URL's scheme is not allowed for this "
		    "destination type");
		break;
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_WEIRD_SERVER_REPLY:
		probe_fail(res, chk, "the connection broke while %s (%s)", what,
		    curl_easy_strerror(cc));
		break;
	case CURLE_LOGIN_DENIED:
		chk = CHECK_AUTH;
		probe_fail(res, chk, "the server refused the credentials");
		break;
	case CURLE_WRITE_ERROR:
		if (x->truncated) {
			chk = otherwise;
			probe_fail(res, chk, "the server sent more data than "
			    "expected while %s", what);
			break;
		}
		/* FALLTHROUGH */
	default:
		chk = otherwise;
		probe_fail(res, chk, "%s failed (%s)", what,
		    curl_easy_strerror(cc));
		break;
	}
	return chk;
}
