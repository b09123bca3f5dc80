/*
 * The FTP / FTPS probe (FtpConfig: host, port, username, password, tls,
 * path), all through one libcurl easy handle driven by one multi handle,
 * so the control connection and the login are reused from step to step:
 *
 *   connect + auth  log in ("ftp://host/" without a body)
 *   target          CWD into the path and list it (NLST)
 *   write           STOR .backupd-probe-<hex> (64 random bytes)
 *   read            RETR it and compare
 *   delete          DELE it (CURLOPT_POSTQUOTE); a refusal is a warning
 *
 * TLS (RFC 4217): "explicit" (the default) is ftp:// with AUTH TLS and
 * CURLUSESSL_ALL, so a server that does not offer TLS fails instead of
 * silently carrying the password in the clear; "implicit" is ftps:// (TLS
 * from the first byte, port 990 by default); "none" is plain FTP and adds a
 * warning. Certificates are verified (probe_curl adds the server's ca_file).
 *
 * Data connections are passive (EPSV, then PASV). CURLOPT_FTP_SKIP_PASV_IP
 * makes curl connect the data connection to the control connection's
 * address whatever a PASV reply names, so a server cannot point the probe
 * at a third host; the data socket is opened through the same
 * CURLOPT_OPENSOCKETFUNCTION as the control one, so the egress policy judges
 * it too.
 *
 * Paths (RFC 1738 §3.2.2, curl's CURLOPT_URL "FTP" section): an FTP URL's
 * path is relative to the login directory, one CWD per segment; an
 * absolute directory needs its leading '/' encoded as "%2F" right after the
 * host ("/srv/x" -> ftp://host/%2Fsrv/x/, "x" -> ftp://host/x/, "." or ""
 * -> the login directory itself). Every other byte outside RFC 3986's
 * unreserved set is percent-encoded, ';' included (no ";type=" suffix).
 *
 * Time: the probe's one deadline (probe_ms_left: probe_timeout from the
 * start of probe_run) bounds every step; the TCP connect alone is bounded
 * by probe_connect_timeout (see perform()).
 *
 * Details never contain curl's error buffer or any reply text (both quote
 * the server); at most an FTP reply code, a number. The one reply text
 * reported is the greeting (the 220 reply that opens the control
 * connection), cleaned into TestResult.observed.serverSoftware.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "bd_limits.h"
#include "clock.h"
#include "probe_banner.h"
#include "probe_http.h"
#include "wipe.h"
#include "url.h"

/* Scheme, user-free host (IPv6 in brackets), port, "%2F", the path with
 * every byte percent-encoded at worst, the probe name. */
#define FTP_URL_MAX (64 + 3 * LIM_SHORT_MAX + 3 * LIM_SHORT_MAX + 3 * 32)

enum ftp_tls {
	FTP_TLS_NONE,
	FTP_TLS_EXPLICIT,
	FTP_TLS_IMPLICIT
};

struct ftp_conf {
	const char *host, *user, *password, *path;
	long port;
	enum ftp_tls tls;
};

/* Feeds the probe bytes to an upload. */
struct upload {
	const unsigned char *data;
	size_t len, off;
};

static const char *const tls_names[] = {
	[FTP_TLS_NONE] = "none",
	[FTP_TLS_EXPLICIT] = "explicit",
	[FTP_TLS_IMPLICIT] = "implicit",
};

/* Append s[0..len) to out at *o; false when it does not fit. */
static bool
put(char *out, size_t outsz, size_t *o, const char *s, size_t len)
{
	if (*o + len >= outsz)
		return false;
	memcpy(out + *o, s, len);
	*o += len;
	out[*o] = '\0';
	return true;
}

/* Append s percent-encoded (url.h: all but RFC 3986 unreserved), keeping
 * '/' as the segment separator when keep_slash. ';' is encoded like the
 * rest, so a path cannot smuggle in an RFC 1738 ";type=" suffix. */
static bool
put_encoded(char *out, size_t outsz, size_t *o, const char *s,
    bool keep_slash)
{
	size_t n;

	for (;;) {
		n = keep_slash ? strcspn(s, "/") : strlen(s);
		if (!url_escape_buf(out, outsz, o, s, n, false))
			return false;
		if (s[n] == '\0')
			return true;
		if (!put(out, outsz, o, "/", 1))
			return false;
		s += n + 1;
	}
}

/*
 * The URL of directory `path` (name NULL; ends in '/') or of file `name` in
 * it, into out. port <= 0 takes the scheme's default (990 for implicit TLS,
 * else 21). A host containing ':' is an IPv6 literal and gets brackets
 * unless it has them. Returns false when the URL does not fit in outsz;
 * out is then "".
 */
static bool
probe_ftp_url(char *out, size_t outsz, const char *host, long port,
    bool implicit, const char *path, const char *name)
{
	char num[16];
	size_t o = 0;
	bool ok = false, brackets;
	int n;

	if (out == NULL || outsz == 0)
		return false;
	out[0] = '\0';
	if (host == NULL || host[0] == '\0' || path == NULL)
		goto out;
	if (port <= 0)
		port = implicit ? 990 : 21;
	brackets = strchr(host, ':') != NULL && host[0] != '[';
	n = snprintf(num, sizeof(num), ":%ld/", port);
	if (n < 0 || (size_t)n >= sizeof(num))
		goto out;
	if (!put(out, outsz, &o, implicit ? "ftps://" : "ftp://",
	    implicit ? 7 : 6) ||
	    (brackets && !put(out, outsz, &o, "[", 1)) ||
	    !put(out, outsz, &o, host, strlen(host)) ||
	    (brackets && !put(out, outsz, &o, "]", 1)) ||
	    !put(out, outsz, &o, num, (size_t)n))
		goto out;
	/* An absolute path: "%2F" makes curl's first CWD "/", then one CWD
	 * per remaining segment (empty segments are skipped by curl). */
	if (path[0] == '/') {
		if (!put(out, outsz, &o, "%2F", 3))
			goto out;
		path += strspn(path, "/");
	}
	if (!put_encoded(out, outsz, &o, path, true))
		goto out;
	if (out[o - 1] != '/' && !put(out, outsz, &o, "/", 1))
		goto out;
	if (name != NULL && !put_encoded(out, outsz, &o, name, false))
		goto out;
	ok = true;
out:
	if (!ok)
		out[0] = '\0';
	return ok;
}

/* The validated config as typed values; false after recording why not
 * (the registry validated it already: this only guards the types). */
static bool
read_conf(json_object *config, struct ftp_conf *c, struct probe_result *res)
{
	const char *tls;
	json_object *v;
	size_t i;

	memset(c, 0, sizeof(*c));
	c->tls = FTP_TLS_EXPLICIT;
	c->host = probe_json_string(config, "host");
	c->user = probe_json_string(config, "username");
	c->password = probe_json_string(config, "password");
	c->path = probe_json_string(config, "path");
	if (c->host == NULL || c->user == NULL || c->password == NULL ||
	    c->path == NULL) {
		probe_fail(res, CHECK_CONNECT, "the config lacks the host, user "
		    "name, password or path");
		return false;
	}
	if (json_object_object_get_ex(config, "port", &v) &&
	    json_object_is_type(v, json_type_int))
		c->port = (long)json_object_get_int64(v);
	if ((tls = probe_json_string(config, "tls")) != NULL) {
		for (i = 0; i < sizeof(tls_names) / sizeof(tls_names[0]); i++)
			if (strcmp(tls, tls_names[i]) == 0)
				break;
		if (i == sizeof(tls_names) / sizeof(tls_names[0])) {
			probe_fail(res, CHECK_CONNECT, "tls must be none, "
			    "explicit or implicit");
			return false;
		}
		c->tls = (enum ftp_tls)i;
	}
	return true;
}

/* Everything one probe run uses. */
struct ftp_probe {
	struct ftp_conf c;
	struct probe_xfer x;
	CURLM *m;                 /* keeps the control connection between steps */
	const struct probe_env *env; /* its deadline bounds every step */
	long connect_ms;          /* probe_connect_timeout */
	struct upload up;
	struct curl_slist *dele;  /* "DELE <name>" */
	char *root_url, *dir_url, *file_url;
	unsigned char data[LIM_PROBE_BYTES];
	char name[32];
	/* The greeting's first line (cleaned); done once the first reply
	 * ended, whatever its code. */
	struct {
		char text[LIM_PROBE_BANNER_MAX + 1];
		bool done;
	} greeting;
};

/*
 * CURLOPT_HEADERFUNCTION: for FTP, libcurl hands it every line of every
 * server reply (lib/pingpong.c: "We pass all response-lines to the callback
 * function registered for headers"), never a command of ours. Only the
 * first reply is looked at: the greeting (RFC 959 §5.4, "220 Service ready
 * for new user", possibly multi-line "220-" ... "220 "), which the server
 * sends before the probe says anything, so it cannot echo the user name or
 * the password as a later reply might ("331 Password required for bob").
 */
static size_t
on_reply_line(char *data, size_t size, size_t nmemb, void *userp)
{
	struct ftp_probe *p = userp;
	size_t len = size * nmemb;

	if (p->greeting.done || len < 4 || data[0] < '1' || data[0] > '5' ||
	    data[1] < '0' || data[1] > '9' || data[2] < '0' || data[2] > '9')
		return len;
	if (memcmp(data, "220", 3) != 0) {
		p->greeting.done = true;
		return len;
	}
	if (p->greeting.text[0] == '\0')
		(void)probe_banner_clean(p->greeting.text,
		    sizeof(p->greeting.text), data + 4, len - 4);
	if (data[3] != '-')
		p->greeting.done = true;
	return len;
}

static size_t
on_read(char *buf, size_t size, size_t nitems, void *userp)
{
	struct upload *u = userp;
	size_t room = size * nitems, left = u->len - u->off;
	size_t n = left < room ? left : room;

	memcpy(buf, u->data + u->off, n);
	u->off += n;
	return n;
}

/*
 * Run the prepared transfer on the probe's multi handle. For FTP, curl's
 * "connection phase" (CURLOPT_CONNECTTIMEOUT) includes the greeting, AUTH
 * TLS and the login, and servers deliberately answer a wrong password
 * slowly (PAM's fail delay plus e.g. vsftpd's delay_failed_login): bounded
 * by probe_connect_timeout, a wrong password would read "timed out". So
 * curl's connect timeout is the probe's deadline, and this loop gives up
 * alone when the TCP connection (CURLINFO_CONNECT_TIME_T still 0) is not
 * established within connect_ms (0: no such limit). Returns curl's result,
 * CURLE_OPERATION_TIMEDOUT for that give-up.
 */
static CURLcode
perform(struct ftp_probe *p, long connect_ms)
{
	CURLcode cc = CURLE_FAILED_INIT;
	long long t0 = clock_mono_ms();
	curl_off_t connected;
	CURLMsg *msg;
	int running = 1, left;

	if (curl_multi_add_handle(p->m, p->x.h) != CURLM_OK)
		return cc;
	for (;;) {
		if (curl_multi_perform(p->m, &running) != CURLM_OK)
			goto out;
		if (running == 0)
			break;
		if (connect_ms > 0 && clock_mono_ms() - t0 >= connect_ms &&
		    curl_easy_getinfo(p->x.h, CURLINFO_CONNECT_TIME_T,
		    &connected) == CURLE_OK && connected == 0) {
			cc = CURLE_OPERATION_TIMEDOUT;
			goto out;
		}
		if (curl_multi_poll(p->m, NULL, 0, 100, NULL) != CURLM_OK)
			goto out;
	}
	while ((msg = curl_multi_info_read(p->m, &left)) != NULL)
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == p->x.h)
			cc = msg->data.result;
out:
	curl_multi_remove_handle(p->m, p->x.h);
	return cc;
}

/*
 * Prepare the handle for the next step and run it: the URL, whether the
 * step transfers no body, lists, uploads, and what runs after it; a fresh
 * response buffer; the time left until the probe's deadline, at least
 * min_ms. Returns curl's result.
 */
static CURLcode
run_step(struct ftp_probe *p, const char *url, long nobody, long listonly,
    bool upload, struct curl_slist *postquote, long connect_ms, long min_ms)
{
	struct probe_xfer *x = &p->x;
	long left = probe_ms_left(p->env);
	CURLcode cc;

	if (left < min_ms)
		left = min_ms;
	if (left <= 0)
		return CURLE_OPERATION_TIMEDOUT;
	x->gate.denied = false;
	x->len = 0;
	x->truncated = false;
	x->body[0] = '\0';
	p->up.off = 0;
	if ((cc = curl_easy_setopt(x->h, CURLOPT_URL, url)) != CURLE_OK ||
	    (cc = curl_easy_setopt(x->h, CURLOPT_TIMEOUT_MS, left)) !=
	    CURLE_OK ||
	    (cc = curl_easy_setopt(x->h, CURLOPT_CONNECTTIMEOUT_MS, left)) !=
	    CURLE_OK ||
	    (cc = curl_easy_setopt(x->h, CURLOPT_NOBODY, nobody)) != CURLE_OK ||
	    (cc = curl_easy_setopt(x->h, CURLOPT_DIRLISTONLY, listonly)) !=
	    CURLE_OK ||
	    (cc = curl_easy_setopt(x->h, CURLOPT_UPLOAD, upload ? 1L : 0L)) !=
	    CURLE_OK ||
	    (cc = curl_easy_setopt(x->h, CURLOPT_INFILESIZE_LARGE, upload ?
	    (curl_off_t)p->up.len : (curl_off_t)-1)) != CURLE_OK ||
	    (cc = curl_easy_setopt(x->h, CURLOPT_POSTQUOTE, postquote)) !=
	    CURLE_OK)
		return cc;
	return perform(p, connect_ms);
}

static long
reply_code(const struct probe_xfer *x)
{
	long code = 0;

	if (curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK)
		code = 0;
	return code;
}

/*
 * A step after the login failed with cc: fail `chk` with a sentence. The
 * connection was fine a moment ago, so timeouts, data connection and TLS
 * problems belong to this step, not to the connect check.
 */
static void
fail_step(struct probe_result *res, const struct ftp_probe *p, CURLcode cc,
    enum probe_check chk, const char *what)
{
	const struct probe_xfer *x = &p->x;
	long code = reply_code(x);

	if (x->gate.denied) {
		probe_fail(res, chk, "the egress policy refused the data "
		    "connection's address while %s", what);
		return;
	}
	switch (cc) {
	case CURLE_OPERATION_TIMEDOUT:
		probe_fail(res, chk, "the server did not answer in time while "
		    "%s", what);
		break;
	case CURLE_COULDNT_CONNECT:
	case CURLE_FTP_WEIRD_PASV_REPLY:
	case CURLE_FTP_WEIRD_227_FORMAT:
	case CURLE_FTP_CANT_GET_HOST:
	case CURLE_FTP_ACCEPT_FAILED:
	case CURLE_FTP_ACCEPT_TIMEOUT:
	case CURLE_FTP_PORT_FAILED:
		probe_fail(res, chk, "could not open the passive-mode data "
		    "connection while %s (a firewall or NAT may block the "
		    "server's passive ports)", what);
		break;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
		probe_fail(res, chk, "the TLS handshake of the data connection "
		    "failed while %s", what);
		break;
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_PARTIAL_FILE:
		/*
		 * Seen with vsftpd's require_ssl_reuse=YES under TLS 1.3:
		 * OpenSSL's session tickets are single-use, a data connection
		 * after an upload may offer a spent one, the server refuses
		 * the unresumed session (522) and drops the transfer.
		 */
		probe_fail(res, chk, "the connection broke while %s%s", what,
		    p->c.tls == FTP_TLS_NONE ? "" : " (servers that require "
		    "TLS session reuse on data connections, like vsftpd's "
		    "require_ssl_reuse, can cause this)");
		break;
	case CURLE_LOGIN_DENIED:
		probe_fail(res, chk, "the server refused the credentials when "
		    "logging in again while %s", what);
		break;
	default:
		if (cc == CURLE_WRITE_ERROR && x->truncated)
			probe_fail(res, chk, "the server sent more data than "
			    "expected while %s", what);
		else if (code == 521 || code == 522 || code == 534)
			/* RFC 4217 §9/§10: the server would not accept the
			 * protected data connection. */
			probe_fail(res, chk, "the server refused the TLS data "
			    "connection while %s (FTP reply %ld)", what, code);
		else if (code >= 400 && code <= 599)
			probe_fail(res, chk, "the server refused %s (FTP reply "
			    "%ld)", what, code);
		else
			probe_fail(res, chk, "%s failed (%s)", what,
			    curl_easy_strerror(cc));
		break;
	}
}

/* Connect and log in ("ftp://host/" without a body): connect and auth. */
static bool
step_login(struct ftp_probe *p, struct probe_result *res)
{
	const struct ftp_conf *c = &p->c;
	CURLcode cc;

	cc = run_step(p, p->root_url, 1L, 0L, false, NULL, p->connect_ms, 0);
	if (cc == CURLE_OK || cc == CURLE_LOGIN_DENIED)
		probe_pass(res, CHECK_CONNECT, "connected (%s)",
		    c->tls == FTP_TLS_NONE ? "plain FTP, no TLS" :
		    c->tls == FTP_TLS_IMPLICIT ?
		    "implicit TLS, certificate verified" :
		    "explicit TLS, certificate verified");
	if (cc == CURLE_OK) {
		probe_pass(res, CHECK_AUTH, "logged in as '%s'", c->user);
		return true;
	}
	if (cc == CURLE_LOGIN_DENIED) {
		probe_fail(res, CHECK_AUTH, "the server refused the user name "
		    "or password%s", c->tls == FTP_TLS_NONE ? " (some servers "
		    "also refuse logins without TLS)" : "");
	} else if (cc == CURLE_USE_SSL_FAILED && !p->x.gate.denied) {
		/* AUTH TLS answered with an error (RFC 4217 §4): the server
		 * has no TLS, and CURLUSESSL_ALL never falls back. */
		probe_fail(res, CHECK_CONNECT, "the server does not offer TLS "
		    "(it refused AUTH TLS); set tls to \"none\" only if sending "
		    "the password unencrypted is acceptable");
	} else {
		probe_fail_curl(res, &p->x, cc, CHECK_CONNECT, "logging in");
	}
	return false;
}

/* CWD into the path and list it (NLST): the target check. */
static bool
step_list(struct ftp_probe *p, struct probe_result *res)
{
	CURLcode cc;

	cc = run_step(p, p->dir_url, 0L, 1L, false, NULL, 0, 0);
	/* A listing past the byte cap is a big directory, not a problem. */
	if (cc == CURLE_OK || (cc == CURLE_WRITE_ERROR && p->x.truncated)) {
		probe_pass(res, CHECK_TARGET, "directory '%s' exists and can "
		    "be listed", p->c.path);
		return true;
	}
	if (cc == CURLE_REMOTE_ACCESS_DENIED)
		/* A CWD answered with an error: curl does not say which. */
		probe_fail(res, CHECK_TARGET, "directory '%s' does not exist "
		    "or cannot be entered", p->c.path);
	else if (cc == CURLE_FTP_COULDNT_RETR_FILE)
		probe_fail(res, CHECK_TARGET, "the server refused to list "
		    "directory '%s' (FTP reply %ld)", p->c.path,
		    reply_code(&p->x));
	else
		fail_step(res, p, cc, CHECK_TARGET,
		    "listing the directory");
	return false;
}

/* STOR the probe object: the write check. *maybe_created tells whether a
 * (partial) file may have been left behind. */
static bool
step_write(struct ftp_probe *p, struct probe_result *res,
    bool *maybe_created)
{
	const char *path = p->c.path;
	CURLcode cc;
	long code;

	*maybe_created = false;
	cc = run_step(p, p->file_url, 0L, 0L, true, NULL, 0, 0);
	if (cc == CURLE_OK && p->up.off == p->up.len) {
		*maybe_created = true;
		probe_pass(res, CHECK_WRITE, "uploaded a %d-byte probe object",
		    LIM_PROBE_BYTES);
		return true;
	}
	if (cc == CURLE_OK) {
		*maybe_created = true;
		probe_fail(res, CHECK_WRITE, "the upload of the probe object "
		    "ended early");
		return false;
	}
	if (cc != CURLE_UPLOAD_FAILED) {
		/* STOR was accepted and something broke afterwards. */
		*maybe_created = true;
		fail_step(res, p, cc, CHECK_WRITE,
		    "uploading the probe object");
		return false;
	}
	/* STOR refused (RFC 959 §4.2: 550/553 not allowed / name not
	 * allowed, 452/552 out of space, 530/532 login or account needed). */
	code = reply_code(&p->x);
	if (code == 550 || code == 553 || code == 532 || code == 530)
		probe_fail(res, CHECK_WRITE, "no permission to write in '%s'",
		    path);
	else if (code == 452 || code == 552)
		probe_fail(res, CHECK_WRITE, "no space left in '%s' (the "
		    "server's storage allocation is exceeded)", path);
	else
		probe_fail(res, CHECK_WRITE, "the server refused to store a "
		    "file in '%s' (FTP reply %ld)", path, code);
	return false;
}

/* RETR the probe object and compare: the read check. */
static bool
step_read(struct ftp_probe *p, struct probe_result *res)
{
	struct probe_xfer *x = &p->x;
	CURLcode cc;

	cc = run_step(p, p->file_url, 0L, 0L, false, NULL, 0, 0);
	if (cc == CURLE_OK)
		return probe_read_back(res, x, p->data, LIM_PROBE_BYTES);
	if (cc == CURLE_WRITE_ERROR && x->truncated)
		probe_fail(res, CHECK_READ, "the probe object read back "
		    "differs from what was written");
	else if (cc == CURLE_REMOTE_FILE_NOT_FOUND ||
	    cc == CURLE_FTP_COULDNT_RETR_FILE)
		probe_fail(res, CHECK_READ, "the server refused to send the "
		    "probe object back from '%s' (FTP reply %ld)", p->c.path,
		    reply_code(x));
	else
		fail_step(res, p, cc, CHECK_READ,
		    "downloading the probe object");
	return false;
}

/* DELE the probe object. No body on the directory URL: curl enters the
 * directory and stops; the POSTQUOTE then runs in that directory (curl
 * runs it only after a successful transfer). */
static CURLcode
run_delete(struct ftp_probe *p, long min_ms)
{
	return run_step(p, p->dir_url, 1L, 0L, false, p->dele, 0, min_ms);
}

/* The delete check: a refusal is a warning (the contract). */
static void
step_delete(struct ftp_probe *p, struct probe_result *res)
{
	CURLcode cc;

	cc = run_delete(p, 0);
	if (cc == CURLE_OK) {
		probe_pass(res, CHECK_DELETE, "deleted the probe object");
	} else if (cc == CURLE_QUOTE_ERROR) {
		probe_pass(res, CHECK_DELETE, "the server refused to delete the "
		    "probe object; it was kept");
		probe_warn(res, "could not delete the probe object '%s' in "
		    "'%s'; remove it by hand", p->name, p->c.path);
	} else {
		fail_step(res, p, cc, CHECK_DELETE,
		    "deleting the probe object");
	}
}

/* URLs, the DELE command and the curl handles; false after recording
 * why not. */
static bool
setup(struct ftp_probe *p, const struct probe_env *env, long response_s,
    struct probe_result *res)
{
	const struct ftp_conf *c = &p->c;
	bool implicit = c->tls == FTP_TLS_IMPLICIT;
	char cmd[48];
	int n;

	p->root_url = malloc(FTP_URL_MAX);
	p->dir_url = malloc(FTP_URL_MAX);
	p->file_url = malloc(FTP_URL_MAX);
	n = snprintf(cmd, sizeof(cmd), "DELE %s", p->name);
	if (p->root_url == NULL || p->dir_url == NULL || p->file_url == NULL ||
	    n < 0 || (size_t)n >= sizeof(cmd) ||
	    (p->dele = curl_slist_append(NULL, cmd)) == NULL ||
	    (p->m = curl_multi_init()) == NULL) {
		probe_fail(res, CHECK_CONNECT, "out of memory");
		return false;
	}
	if (!probe_ftp_url(p->root_url, FTP_URL_MAX, c->host, c->port,
	    implicit, "", NULL) ||
	    !probe_ftp_url(p->dir_url, FTP_URL_MAX, c->host, c->port,
	    implicit, c->path, NULL) ||
	    !probe_ftp_url(p->file_url, FTP_URL_MAX, c->host, c->port,
	    implicit, c->path, p->name)) {
		probe_fail(res, CHECK_TARGET, "the path is too long");
		return false;
	}
	if (probe_curl(&p->x, env, "ftp,ftps") != BD_OK ||
	    curl_easy_setopt(p->x.h, CURLOPT_USERNAME, c->user) != CURLE_OK ||
	    curl_easy_setopt(p->x.h, CURLOPT_PASSWORD, c->password) !=
	    CURLE_OK ||
	    /* RFC 4217 AUTH TLS; curl's default would try the pre-standard
	     * AUTH SSL first. */
	    curl_easy_setopt(p->x.h, CURLOPT_FTPSSLAUTH,
	    (long)CURLFTPAUTH_TLS) != CURLE_OK ||
	    curl_easy_setopt(p->x.h, CURLOPT_USE_SSL, c->tls == FTP_TLS_NONE ?
	    (long)CURLUSESSL_NONE : (long)CURLUSESSL_ALL) != CURLE_OK ||
	    curl_easy_setopt(p->x.h, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
	    curl_easy_setopt(p->x.h, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
	    /* Passive mode: no CURLOPT_FTPPORT; EPSV first, then PASV whose
	     * address is ignored in favour of the control connection's. */
	    curl_easy_setopt(p->x.h, CURLOPT_FTP_USE_EPSV, 1L) != CURLE_OK ||
	    curl_easy_setopt(p->x.h, CURLOPT_FTP_SKIP_PASV_IP, 1L) !=
	    CURLE_OK ||
	    /* One CWD per segment (curl's default, RFC 1738), so the DELE
	     * after a transfer runs in the probe's directory. */
	    curl_easy_setopt(p->x.h, CURLOPT_FTP_FILEMETHOD,
	    (long)CURLFTPMETHOD_MULTICWD) != CURLE_OK ||
	    curl_easy_setopt(p->x.h, CURLOPT_FTP_CREATE_MISSING_DIRS,
	    (long)CURLFTP_CREATE_DIR_NONE) != CURLE_OK ||
	    /* "a/../b" in the configured path reaches the server as written
	     * instead of being folded away by curl's URL parser. */
	    curl_easy_setopt(p->x.h, CURLOPT_PATH_AS_IS, 1L) != CURLE_OK ||
	    curl_easy_setopt(p->x.h, CURLOPT_READFUNCTION, on_read) !=
	    CURLE_OK ||
	    curl_easy_setopt(p->x.h, CURLOPT_READDATA, &p->up) != CURLE_OK ||
	    curl_easy_setopt(p->x.h, CURLOPT_HEADERFUNCTION, on_reply_line) !=
	    CURLE_OK ||
	    curl_easy_setopt(p->x.h, CURLOPT_HEADERDATA, p) != CURLE_OK ||
	    /*
	     * Every wait for a reply, also the QUIT curl sends when it closes
	     * the cached connection at the end (curl_multi_add_handle copies
	     * this to the multi's closure handle), ends after probe_timeout
	     * instead of curl's default of 120 s.
	     */
	    curl_easy_setopt(p->x.h, CURLOPT_SERVER_RESPONSE_TIMEOUT,
	    response_s) != CURLE_OK) {
		probe_fail(res, CHECK_CONNECT, "could not set up the FTP "
		    "connection");
		return false;
	}
	return true;
}

/* See probe.h and the comment at the top of this file. */
void
probe_ftp(const struct probe_env *env, json_object *config,
    struct probe_result *res)
{
	struct ftp_probe *p;
	long tt = LIM_PROBE_TIMEOUT_DEFAULT, ct =
	    LIM_PROBE_CONNECT_TIMEOUT_DEFAULT;
	bool created = false;

	/* Zeroed: every pointer NULL, so the exit path frees what exists. */
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		probe_fail(res, CHECK_CONNECT, "out of memory");
		goto out;
	}
	p->env = env;
	if (env != NULL && env->cfg != NULL && env->cfg->probe_timeout > 0)
		tt = env->cfg->probe_timeout;
	if (env != NULL && env->cfg != NULL &&
	    env->cfg->probe_connect_timeout > 0)
		ct = env->cfg->probe_connect_timeout;
	p->connect_ms = ct * 1000L;
	randombytes_buf(p->data, sizeof(p->data));
	p->up.data = p->data;
	p->up.len = sizeof(p->data);
	probe_object_name(p->name);

	if (!read_conf(config, &p->c, res) || !setup(p, env, tt, res))
		goto out;
	if (p->c.tls == FTP_TLS_NONE)
		probe_warn(res, "tls is \"none\": the password and the data "
		    "travel unencrypted");
	if (!step_login(p, res) || !step_list(p, res) ||
	    !step_write(p, res, &created) || !step_read(p, res))
		goto out;
	created = false;
	step_delete(p, res);
out:
	if (p == NULL)
		return;
	/* After a failed write or read, leave nothing behind (best effort,
	 * result ignored: the failure is already recorded). */
	if (created)
		(void)run_delete(p, LIM_PROBE_CLEANUP_MIN_MS);
	if (p->greeting.text[0] != '\0')
		probe_observe_string(res, "serverSoftware", p->greeting.text);
	/* The easy handle leaves the multi handle after every step, so the
	 * two can go in any order. */
	probe_xfer_cleanup(&p->x);
	if (p->m != NULL)
		curl_multi_cleanup(p->m);
	curl_slist_free_all(p->dele);
	free(p->root_url);
	free(p->dir_url);
	free(p->file_url);
	wipe_free(p, sizeof(*p));
}
