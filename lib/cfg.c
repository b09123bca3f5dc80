/*
 * Configuration loading. The key table below is the single list of keys:
 * defaults, types, ranges, which values are secret and how each is checked.
 * DESIGN.md ("Configuration") documents it.
 *
 * File syntax, one setting a line:
 *
 *	# comment (only as the first non-blank character of a line)
 *	key = value
 *	key = "value with surrounding spaces kept"
 *
 * Whitespace around key and value is trimmed; one pair of double quotes
 * around the value is removed (no escapes inside). A '#' after a value is
 * part of the value, since passwords may contain one. A key given twice in
 * the file is an error, so a stale duplicate cannot silently win. An empty
 * value leaves an optional key unset; keys with a default must not be empty.
 *
 * Then every key can be overridden by BACKUPD_<KEY IN UPPER CASE> in the
 * environment; the first occurrence wins, as with getenv(3).
 *
 * Error text names the file and line (or the variable) and the key, and
 * never contains a value: a typo next to db_password must not print it.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cfg.h"
#include "egress.h"
#include "bd_limits.h"
#include "secret_file.h"
#include "wipe.h"
#include "commalist.h"
#include "url.h"

/* A config file is a few kilobytes; anything this large is a wrong path. */
#define CFG_FILE_MAX LIM_CONFIG_FILE_MAX
/* Longest key name echoed back in "unknown key" (they are short tokens). */
#define CFG_KEY_SHOWN_MAX 64
#define ENV_PREFIX "BACKUPD_"
#define CFG_INT_MAX INT_MAX
/* "file:LINE: key 'x'" prefix; a longer path is cut, not an error. */
#define CFG_WHERE_MAX 1024

/* K_BOOL: an int member, 1 or 0, written on/off, true/false, yes/no, 1/0. */
enum ktype { K_STR, K_INT, K_LONG, K_BOOL };

/* Value never appears anywhere but the struct; cfg_free() wipes it. */
#define K_SECRET 0x1u

typedef bool validator(const char *v, char *why, size_t whylen);

struct key {
	const char *name;
	enum ktype type;
	size_t off;
	const char *dstr; /* K_STR default; NULL: unset */
	long dnum;        /* K_INT/K_LONG default */
	long min, max;    /* K_INT/K_LONG inclusive range */
	unsigned flags;
	validator *valid; /* K_STR: NULL accepts anything */
};

static validator v_listen, v_jwt_alg, v_url, v_cidrs, v_roots, v_nonempty;
static validator v_pm, v_path, v_abs, v_clients, v_mode, v_db_hosts;

/* Which layer key_set() is applying (1 file, 2 environment), so that an
 * alias given in the environment beats the key it stands for in the file. */
static unsigned char cur_layer;

/* Dropbox (issue 10): the app key/secret and the three endpoints
 * (Dropbox "OAuth Guide": www.dropbox.com/oauth2/authorize; RPC endpoints
 * and oauth2/token at api.dropboxapi.com; content endpoints at
 * content.dropboxapi.com). */
#define DROPBOX_KEYS(STR)                                                    \
	STR(dropbox_client_id, NULL, 0, NULL)                                  \
	STR(dropbox_client_secret, NULL, K_SECRET, NULL)                       \
	STR(dropbox_auth_url, "https://www.dropbox.com/oauth2/authorize", 0,   \
	    v_url)                                                             \
	STR(dropbox_api_url, "https://api.dropboxapi.com", 0, v_url)           \
	STR(dropbox_content_url, "https://content.dropboxapi.com", 0, v_url)

/*
 * STR(name, default, flags, validator)
 * NUM(name, type, default, min, max)
 */
#define CFG_KEYS(STR, NUM)                                                   \
	STR(listen, "unix:/run/backupd/backupd.sock", 0, v_listen)             \
	NUM(workers, K_INT, LIM_WORKERS_DEFAULT, 1, LIM_PM_MAX_CHILDREN)                       \
	NUM(max_requests, K_INT, LIM_MAX_REQUESTS_DEFAULT, 1, CFG_INT_MAX)     \
	NUM(request_timeout, K_INT, LIM_REQUEST_TIMEOUT_DEFAULT, 1, 3600)      \
	STR(db_host, NULL, 0, NULL)                                            \
	NUM(db_port, K_INT, 3306, 1, 65535)                                    \
	STR(db_socket, NULL, 0, NULL)                                          \
	STR(db_user, NULL, 0, NULL)                                            \
	STR(db_password, NULL, K_SECRET, NULL)                                 \
	STR(db_name, NULL, 0, NULL)                                            \
	STR(db_hosts, NULL, 0, v_db_hosts)                                     \
	STR(keyring_file, NULL, 0, NULL)                                       \
	STR(jwt_alg, "HS256", 0, v_jwt_alg)                                    \
	STR(jwt_key, NULL, K_SECRET, NULL)                                     \
	STR(jwt_key_file, NULL, 0, NULL)                                       \
	STR(jwt_issuer, NULL, 0, NULL)                                         \
	STR(jwt_audience, NULL, 0, NULL)                                       \
	STR(jwt_org_claim, "org_id", 0, v_nonempty)                            \
	NUM(jwt_leeway, K_INT, LIM_JWT_LEEWAY_DEFAULT, 0, 3600)                \
	STR(settings_url, NULL, 0, v_url)                                      \
	STR(oauth_redirect_uri, NULL, 0, v_url)                                \
	STR(google_client_id, NULL, 0, NULL)                                   \
	STR(google_client_secret, NULL, K_SECRET, NULL)                        \
	STR(google_auth_url, "https://accounts.google.com/o/oauth2/v2/auth",   \
	    0, v_url)                                                          \
	STR(google_token_url, "https://oauth2.googleapis.com/token", 0, v_url) \
	STR(google_api_url, "https://www.googleapis.com", 0, v_url)            \
	STR(microsoft_client_id, NULL, 0, NULL)                                \
	STR(microsoft_client_secret, NULL, K_SECRET, NULL)                     \
	STR(microsoft_login_url, "https://login.microsoftonline.com", 0,       \
	    v_url)                                                             \
	STR(microsoft_graph_url, "https://graph.microsoft.com/v1.0", 0, v_url) \
	STR(gcs_api_url, "https://storage.googleapis.com", 0, v_url)           \
	DROPBOX_KEYS(STR)                                                      \
	STR(egress_deny, NULL, 0, v_cidrs)                                     \
	STR(egress_allow, NULL, 0, v_cidrs)                                    \
	STR(local_roots, NULL, 0, v_roots)                                     \
	STR(ca_file, NULL, 0, NULL)                                            \
	NUM(probe_connect_timeout, K_INT, LIM_PROBE_CONNECT_TIMEOUT_DEFAULT,   \
	    1, 120)                                                            \
	NUM(probe_timeout, K_INT, LIM_PROBE_TIMEOUT_DEFAULT, 1, 600)           \
	NUM(max_body, K_LONG, LIM_MAX_BODY_DEFAULT, 1024, 16L * 1024 * 1024) \
	/* issue 13: tenant separation (README "Security") */                  \
	NUM(local_per_org, K_BOOL, 1, 0, 1)                                    \
	NUM(oauth_bind_browser, K_BOOL, 1, 0, 1)                               \
	/* issue 9: a test warns below this much free space */                 \
	NUM(min_free_bytes, K_LONG, LIM_MIN_FREE_BYTES_DEFAULT, 0, 1L << 62)   \
	PM_KEYS(STR, NUM)

/* The process manager's keys (DESIGN.md "Process manager"); workers = 0 and
 * pm unset mean "not given": cfg_resolve_pm() settles them. */
#define PM_KEYS(STR, NUM)                                                    \
	STR(pm, NULL, 0, v_pm)                                                 \
	NUM(pm_max_children, K_INT, LIM_PM_MAX_CHILDREN_DEFAULT, 1,            \
	    LIM_PM_MAX_CHILDREN)                                               \
	NUM(pm_start_servers, K_INT, 4, 1, LIM_PM_MAX_CHILDREN)                \
	NUM(pm_min_spare, K_INT, 2, 1, LIM_PM_MAX_CHILDREN)                    \
	NUM(pm_max_spare, K_INT, 8, 1, LIM_PM_MAX_CHILDREN)                    \
	NUM(pm_process_idle_timeout, K_INT, 10, 1, 86400)                      \
	NUM(pm_reserved_for_reads, K_INT, 4, 0, LIM_PM_MAX_CHILDREN)           \
	NUM(probe_slots, K_INT, 0, 0, LIM_PM_MAX_CHILDREN)                     \
	NUM(probe_slots_per_org, K_INT, 2, 1, LIM_PM_MAX_CHILDREN)             \
	STR(ping_path, "/backup-destinations-ping", 0, v_path)                 \
	STR(status_path, "/backup-destinations-status", 0, v_path)             \
	NUM(request_slowlog_timeout, K_INT, 5, 0, 3600)                        \
	STR(log_file, NULL, 0, v_abs)                                          \
	STR(listen_allowed_clients, NULL, 0, v_clients)                        \
	STR(listen_owner, NULL, 0, v_nonempty)                                 \
	STR(listen_group, NULL, 0, v_nonempty)                                 \
	STR(listen_mode, "0660", 0, v_mode)

#define ROW_STR(n, def, fl, v) \
	{#n, K_STR, offsetof(struct cfg, n), def, 0, 0, 0, fl, v},
#define ROW_NUM(n, t, def, lo, hi) \
	{#n, t, offsetof(struct cfg, n), NULL, def, lo, hi, 0, NULL},
static const struct key keys[] = {CFG_KEYS(ROW_STR, ROW_NUM)};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

#define NAME_STR(n, def, fl, v) #n,
#define NAME_NUM(n, t, def, lo, hi) #n,
static const char *const key_names[] = {CFG_KEYS(NAME_STR, NAME_NUM) NULL};

/* Each table row's type matches its struct member's type. */
#define CHECK_STR(n, def, fl, v)                                             \
	_Static_assert(_Generic(((struct cfg *)0)->n, char *: 1, default: 0), \
	    "cfg key " #n " is not a string member");
#define CHECK_NUM(n, t, def, lo, hi)                                         \
	_Static_assert(_Generic(((struct cfg *)0)->n,                         \
	    int: (t) == K_INT || (t) == K_BOOL,                               \
	    long: (t) == K_LONG, default: 0),                                  \
	    "cfg key " #n " does not match its member's type");
CFG_KEYS(CHECK_STR, CHECK_NUM)

/* Algorithms libjwt verifies; exact case (RFC 7518 §3.1), never "none". */
static const char *const jwt_algs[] = {
	"HS256", "HS384", "HS512", "RS256", "RS384", "RS512",
	"ES256", "ES384", "ES512",
};

static char **
str_at(struct cfg *c, const struct key *k)
{
	return (char **)((char *)c + k->off);
}

static void
str_free(struct cfg *c, const struct key *k)
{
	char **p = str_at(c, k);

	if (*p == NULL)
		return;
	if (k->flags & K_SECRET)
		wipe_str_free(*p);
	else
		free(*p);
	*p = NULL;
}

/* Copy a possibly hostile key name for display; false when unsafe to. */
static bool
key_shown(const char *name, char *out, size_t outlen)
{
	size_t n = strlen(name);

	if (n == 0 || n > CFG_KEY_SHOWN_MAX || n >= outlen ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789_-.") != n)
		return false;
	memcpy(out, name, n + 1);
	return true;
}

static const struct key *
key_find(const char *name)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

/* --- validators: on false, `why` says what is expected, never the value */

static bool
has_ctl_or_space(const char *v)
{
	for (; *v != '\0'; v++)
		if (isspace((unsigned char)*v) || iscntrl((unsigned char)*v))
			return true;
	return false;
}

static bool
port_ok(const char *p)
{
	size_t n = strlen(p);
	long port;

	if (n == 0 || n > 5 || strspn(p, "0123456789") != n)
		return false;
	port = strtol(p, NULL, 10);
	return port >= 1 && port <= 65535;
}

/* "unix:/abs/path", "host:port" or "[v6]:port". */
static bool
v_listen(const char *v, char *why, size_t whylen)
{
	struct sockaddr_un sun;
	char host[INET6_ADDRSTRLEN + 1];
	unsigned char a6[16];
	const char *colon, *close;
	size_t hlen;

	if (strncmp(v, "unix:", 5) == 0) {
		if (v[5] == '/' && strlen(v + 5) < sizeof(sun.sun_path) &&
		    !has_ctl_or_space(v + 5))
			return true;
		snprintf(why, whylen, "unix socket path must be absolute and "
		    "shorter than %zu bytes", sizeof(sun.sun_path));
		return false;
	}
	if (v[0] == '[') {
		close = strchr(v, ']');
		hlen = close != NULL ? (size_t)(close - v - 1) : 0;
		if (close != NULL && hlen > 0 && hlen < sizeof(host)) {
			memcpy(host, v + 1, hlen);
			host[hlen] = '\0';
			if (inet_pton(AF_INET6, host, a6) == 1 &&
			    close[1] == ':' && port_ok(close + 2))
				return true;
		}
	} else if ((colon = strrchr(v, ':')) != NULL && colon > v &&
	    strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789.-") == (size_t)(colon - v) && port_ok(colon + 1))
		return true;
	snprintf(why, whylen, "must be unix:/absolute/path, host:port or "
	    "[ipv6]:port with a port between 1 and 65535");
	return false;
}

static bool
v_jwt_alg(const char *v, char *why, size_t whylen)
{
	size_t i;

	for (i = 0; i < sizeof(jwt_algs) / sizeof(jwt_algs[0]); i++)
		if (strcmp(v, jwt_algs[i]) == 0)
			return true;
	snprintf(why, whylen, "must be one of HS256 HS384 HS512 RS256 RS384 "
	    "RS512 ES256 ES384 ES512");
	return false;
}

/* The service's one URL rule (url.h); the sentence stays the one every
 * URL key has always answered. */
static bool
v_url(const char *v, char *why, size_t whylen)
{
	if (url_parse(v, URL_QUERY | URL_STRICT_HOST, NULL) == URL_OK)
		return true;
	snprintf(why, whylen, "must be an http:// or https:// URL");
	return false;
}

static bool
v_cidrs(const char *v, char *why, size_t whylen)
{
	struct cidr *list = NULL;
	size_t n = 0;
	enum bd_err rc;

	rc = egress_parse(v, &list, &n, why, whylen);
	free(list);
	return rc == BD_OK;
}

/* Comma-separated absolute directories (commas cannot appear in a root). */
static bool
v_roots(const char *v, char *why, size_t whylen)
{
	const char *cur = v, *s;
	size_t len;

	while (commalist_next(&cur, &s, &len))
		if (len == 0 || s[0] != '/') {
			snprintf(why, whylen, "must be comma-separated "
			    "absolute paths");
			return false;
		}
	return true;
}

bool
cfg_db_node_parse(const char *item, size_t len, struct cfg_db_node *out)
{
	const char *colon = NULL, *h = item;
	size_t hlen = len;
	long port = 3306;

	memset(out, 0, sizeof(*out));
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (isspace((unsigned char)item[i]) ||
		    iscntrl((unsigned char)item[i]) || item[i] == ',')
			return false;
	if (item[0] == '/') {
		if (len >= sizeof(out->socket))
			return false;
		memcpy(out->socket, item, len);
		return true;
	}
	if (item[0] == '[') {
		const char *end = memchr(item, ']', len);

		if (end == NULL || end == item + 1)
			return false;
		h = item + 1;
		hlen = (size_t)(end - h);
		if (end + 1 < item + len) {
			if (end[1] != ':')
				return false;
			colon = end + 1;
		}
	} else if ((colon = memchr(item, ':', len)) != NULL) {
		hlen = (size_t)(colon - item);
		if (memchr(colon + 1, ':', len - hlen - 1) != NULL)
			return false;   /* a bare IPv6 address needs [] */
	}
	if (colon != NULL) {
		const char *d = colon + 1, *e = item + len;

		if (d == e || e - d > 5)
			return false;
		port = 0;
		for (; d < e; d++) {
			if (*d < '0' || *d > '9')
				return false;
			port = port * 10 + (*d - '0');
		}
		if (port < 1 || port > 65535)
			return false;
	}
	if (hlen == 0 || hlen >= sizeof(out->host))
		return false;
	memcpy(out->host, h, hlen);
	out->port = (unsigned)port;
	return true;
}

static bool
v_db_hosts(const char *v, char *why, size_t whylen)
{
	const char *cur = v, *s;
	size_t len, n = 0;
	struct cfg_db_node node;

	while (commalist_next(&cur, &s, &len)) {
		if (!cfg_db_node_parse(s, len, &node) ||
		    ++n > LIM_DB_HOSTS_MAX) {
			snprintf(why, whylen, "must be 1 to %d comma-separated "
			    "host:port or absolute socket paths",
			    LIM_DB_HOSTS_MAX);
			return false;
		}
	}
	return true;
}

static bool
v_nonempty(const char *v, char *why, size_t whylen)
{
	if (v[0] != '\0' && !has_ctl_or_space(v))
		return true;
	snprintf(why, whylen, "must be a name without spaces");
	return false;
}

static bool
v_pm(const char *v, char *why, size_t whylen)
{
	if (strcmp(v, "static") == 0 || strcmp(v, "dynamic") == 0 ||
	    strcmp(v, "ondemand") == 0)
		return true;
	snprintf(why, whylen, "must be static, dynamic or ondemand");
	return false;
}

/* An URL path served before routing: "/" then [A-Za-z0-9._~/-]. */
static bool
v_path(const char *v, char *why, size_t whylen)
{
	size_t n = strlen(v);

	if (n > 1 && n < 256 && v[0] == '/' &&
	    strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._~/-") == n)
		return true;
	snprintf(why, whylen, "must be an absolute URL path of letters, "
	    "digits and ._~/-");
	return false;
}

static bool
v_abs(const char *v, char *why, size_t whylen)
{
	if (v[0] == '/' && !has_ctl_or_space(v))
		return true;
	snprintf(why, whylen, "must be an absolute path");
	return false;
}

/* php-fpm's listen.allowed_clients: comma-separated IPv4/IPv6 addresses. */
static bool
v_clients(const char *v, char *why, size_t whylen)
{
	char one[INET6_ADDRSTRLEN + 1];
	unsigned char a[16];
	const char *cur = v, *item;
	size_t len;

	while (commalist_next(&cur, &item, &len)) {
		if (len == 0 || len >= sizeof(one))
			goto bad;
		memcpy(one, item, len);
		one[len] = '\0';
		if (inet_pton(AF_INET, one, a) != 1 &&
		    inet_pton(AF_INET6, one, a) != 1)
			goto bad;
	}
	return true;
bad:
	snprintf(why, whylen, "must be comma-separated IP addresses");
	return false;
}

/* An octal file mode such as 0660 (permission bits only). */
static bool
v_mode(const char *v, char *why, size_t whylen)
{
	size_t n = strlen(v);

	if (n >= 3 && n <= 4 && strspn(v, "01234567") == n &&
	    strtol(v, NULL, 8) <= 0777)
		return true;
	snprintf(why, whylen, "must be an octal mode such as 0660");
	return false;
}

/*
 * Settle the process manager: `workers` given and `pm` not means pm =
 * static with `workers` children (the old key stays an alias, so existing
 * configs keep their fixed pool); with pm = static given too, `workers` is
 * pm_max_children unless pm_max_children is given in the same or a later
 * layer (the environment overrides the file); with pm = dynamic or ondemand given, `workers` is
 * ignored (an explicit pm wins, so BACKUPD_PM=dynamic can override a file
 * that still says workers = N). Spares must fit under the ceiling;
 * probe_slots 0 means pm_max_children - pm_reserved_for_reads (at least 1).
 */
static bool
resolve_pm(struct cfg *c, char *err, size_t errlen)
{
	if (c->pm == NULL) {
		const char *m = c->workers_given ? "static" : "dynamic";
		if ((c->pm = strdup(m)) == NULL) {
			snprintf(err, errlen, "out of memory");
			return false;
		}
	}
	if (c->workers_given > c->max_children_given &&
	    strcmp(c->pm, "static") == 0)
		c->pm_max_children = c->workers;
	if (strcmp(c->pm, "dynamic") == 0 &&
	    (c->pm_min_spare > c->pm_max_spare ||
	    c->pm_start_servers > c->pm_max_children ||
	    c->pm_min_spare > c->pm_max_children)) {
		snprintf(err, errlen, "key 'pm_min_spare': need pm_min_spare "
		    "<= pm_max_spare, pm_min_spare and pm_start_servers <= "
		    "pm_max_children");
		return false;
	}
	if (c->pm_start_servers > c->pm_max_children)
		c->pm_start_servers = c->pm_max_children;
	if (c->probe_slots == 0) {
		c->probe_slots = c->pm_max_children - c->pm_reserved_for_reads;
		if (c->probe_slots < 1)
			c->probe_slots = 1;
	}
	if (c->probe_slots_per_org > c->probe_slots)
		c->probe_slots_per_org = c->probe_slots;
	return true;
}

/* --- setting one value */

/* Decimal digits with an optional '-': strtol alone would take " 8", "+8". */
static bool
parse_long(const char *v, long *out)
{
	const char *digits = v + (v[0] == '-');
	size_t n = strlen(digits);
	char *end;

	if (n == 0 || strspn(digits, "0123456789") != n)
		return false;
	errno = 0;
	*out = strtol(v, &end, 10);
	return errno == 0 && *end == '\0';
}

/* on/off, true/false, yes/no, 1/0 (any case) into *out as 1 or 0. */
static bool
parse_bool(const char *v, long *out)
{
	static const char *const on[] = {"on", "true", "yes", "1"};
	static const char *const off[] = {"off", "false", "no", "0"};
	size_t i;

	for (i = 0; i < sizeof(on) / sizeof(on[0]); i++) {
		if (strcasecmp(v, on[i]) == 0) {
			*out = 1;
			return true;
		}
		if (strcasecmp(v, off[i]) == 0) {
			*out = 0;
			return true;
		}
	}
	return false;
}

/*
 * Set key k from the text v. `where` prefixes error text: "file:LINE: key
 * 'x'" or "BACKUPD_X". Returns false with err filled on a bad value.
 */
static bool
key_set(struct cfg *c, const struct key *k, const char *v, const char *where,
    char *err, size_t errlen)
{
	char why[256] = "invalid value";
	char *copy;
	long n;
	size_t len;

	if (k->type == K_STR) {
		if (v[0] == '\0') {
			if (k->dstr != NULL) {
				snprintf(err, errlen, "%s: must not be empty",
				    where);
				return false;
			}
			str_free(c, k);
			return true;
		}
		if (k->valid != NULL && !k->valid(v, why, sizeof(why))) {
			snprintf(err, errlen, "%s: %s", where, why);
			return false;
		}
		len = strlen(v);
		if ((copy = malloc(len + 1)) == NULL) {
			snprintf(err, errlen, "%s: out of memory", where);
			return false;
		}
		memcpy(copy, v, len + 1);
		str_free(c, k);
		*str_at(c, k) = copy;
		return true;
	}

	if (k->type == K_BOOL) {
		if (!parse_bool(v, &n)) {
			snprintf(err, errlen, "%s: must be on or off", where);
			return false;
		}
		*(int *)((char *)c + k->off) = (int)n;
		return true;
	}
	if (!parse_long(v, &n) || n < k->min || n > k->max) {
		snprintf(err, errlen, "%s: must be an integer between %ld and "
		    "%ld", where, k->min, k->max);
		return false;
	}
	if (k->off == offsetof(struct cfg, workers))
		c->workers_given = cur_layer;
	if (k->off == offsetof(struct cfg, pm_max_children))
		c->max_children_given = cur_layer;
	if (k->type == K_INT)
		*(int *)((char *)c + k->off) = (int)n;
	else
		*(long *)((char *)c + k->off) = n;
	return true;
}

/* --- files holding secrets */

/*
 * A file holding a secret may be read by its owner and its group (Debian's
 * root:backupd 0640, as php-fpm pool files and ssl-cert keys), never by
 * others, and written by its owner only.
 */
static bool
mode_ok(const char *path, const struct stat *st, char *err, size_t errlen)
{
	if ((st->st_mode & (S_IRWXO | S_IWGRP)) == 0)
		return true;
	snprintf(err, errlen, "%s: " CFG_UNSAFE_TEXT " %s (mode %04o); "
	    "chmod 0640 (owner root, group backupd) or 0600", path,
	    (st->st_mode & S_IRWXO) != 0 ? "accessible to others" :
	    "writable by its group", (unsigned)(st->st_mode & 07777));
	return false;
}

/* The key `base` when name is "<base>_file" for a secret key that has no
 * explicit "<base>_file" key of its own (jwt_key_file has); else NULL. */
static const struct key *
file_variant(const char *name)
{
	char base[CFG_KEY_SHOWN_MAX + 1];
	size_t n = strlen(name);
	const struct key *k;

	if (n <= 5 || n - 5 >= sizeof(base) ||
	    strcmp(name + n - 5, "_file") != 0 || key_find(name) != NULL)
		return NULL;
	memcpy(base, name, n - 5);
	base[n - 5] = '\0';
	k = key_find(base);
	return k != NULL && (k->flags & K_SECRET) ? k : NULL;
}

/* Set secret key k from the file at path (mode checked on the descriptor
 * read; one trailing newline dropped). */
static bool
secret_from_file(struct cfg *c, const struct key *k, const char *path,
    const char *where, char *err, size_t errlen)
{
	char *buf = NULL, sub[CFG_WHERE_MAX + 64];
	struct stat st;
	size_t len = 0;
	bool ok = false;
	int fd;

	if (path[0] != '/') {
		snprintf(err, errlen, "%s: must be an absolute path", where);
		return false;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0 ||
	    fstat(fd, &st) != 0) {
		snprintf(err, errlen, "%s: %s: %s", where, path,
		    strerror(errno));
		goto out;
	}
	if (!mode_ok(path, &st, sub, sizeof(sub)) ||
	    secret_file_read_fd(fd, path, CFG_FILE_MAX, SECRET_FILE_TEXT, &buf,
	    &len, sub, sizeof(sub)) != BD_OK) {
		snprintf(err, errlen, "%s: %s", where, sub);
		goto out;
	}
	if (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	if (len > 0 && buf[len - 1] == '\r')
		buf[--len] = '\0';
	if (len == 0)
		snprintf(err, errlen, "%s: %s is empty", where, path);
	else
		ok = key_set(c, k, buf, where, err, errlen);
out:
	secret_file_free(buf);
	if (fd >= 0)
		close(fd);
	return ok;
}

/* --- the file */

static char *
trim(char *s, char *end)
{
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*end = '\0';
	return s;
}

static bool
file_load(struct cfg *c, const char *path, char *err, size_t errlen)
{
	unsigned seen[NKEYS] = {0}; /* line a key was set on; 0: not yet */
	char where[CFG_WHERE_MAX], shown[CFG_KEY_SHOWN_MAX + 1];
	char *buf = NULL, *line, *next, *eq, *key, *val;
	const struct key *k, *fk;
	size_t len = 0, vlen;
	unsigned lineno = 0;
	bool ok = false;

	/* The file holds secrets (db_password, jwt_key, client secrets). */
	if (secret_file_read(path, CFG_FILE_MAX, SECRET_FILE_TEXT, &buf, &len,
	    err, errlen) != BD_OK)
		goto out;

	for (line = buf; line != NULL; line = next) {
		lineno++;
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		vlen = strlen(line);
		if (vlen > 0 && line[vlen - 1] == '\r')
			line[--vlen] = '\0';
		line = trim(line, line + vlen);
		if (line[0] == '\0' || line[0] == '#')
			continue;

		if ((eq = strchr(line, '=')) == NULL) {
			snprintf(err, errlen, "%s:%u: expected 'key = value'",
			    path, lineno);
			goto out;
		}
		key = trim(line, eq);
		val = trim(eq + 1, eq + 1 + strlen(eq + 1));
		if (key[0] == '\0') {
			snprintf(err, errlen, "%s:%u: missing key before '='",
			    path, lineno);
			goto out;
		}
		fk = NULL;
		if ((k = key_find(key)) == NULL &&
		    (k = fk = file_variant(key)) == NULL) {
			if (key_shown(key, shown, sizeof(shown)))
				snprintf(err, errlen, "%s:%u: unknown key '%s'",
				    path, lineno, shown);
			else
				snprintf(err, errlen, "%s:%u: invalid key name",
				    path, lineno);
			goto out;
		}
		snprintf(where, sizeof(where), "%s:%u: key '%s%s'", path,
		    lineno, k->name, fk != NULL ? "_file" : "");
		if (seen[k - keys] != 0) {
			snprintf(err, errlen, "%s: duplicate (first set on line "
			    "%u)", where, seen[k - keys]);
			goto out;
		}
		seen[k - keys] = lineno;

		vlen = strlen(val);
		if (vlen > 0 && val[0] == '"') {
			if (vlen < 2 || val[vlen - 1] != '"') {
				snprintf(err, errlen, "%s: unterminated quote",
				    where);
				goto out;
			}
			val[vlen - 1] = '\0';
			val++;
		}
		if (fk != NULL) {
			if (val[0] != '\0' &&
			    !secret_from_file(c, k, val, where, err, errlen))
				goto out;
			continue;
		}
		if (!key_set(c, k, val, where, err, errlen))
			goto out;
		if ((k->flags & K_SECRET) && val[0] != '\0')
			c->secret_in_file = 1;
	}
	ok = true;
out:
	secret_file_free(buf);
	return ok;
}

/* --- the environment */

/* BACKUPD_<KEY>_FILE for secret key k (var holds "BACKUPD_<KEY>", vlen
 * long, with room for "_FILE"); BACKUPD_<KEY> itself, applied after, wins. */
static bool
env_file(struct cfg *c, const struct key *k, char *const *envp, char *var,
    size_t vlen, char *err, size_t errlen)
{
	char name[CFG_KEY_SHOWN_MAX + 6];
	char *const *e;

	snprintf(name, sizeof(name), "%s_file", k->name);
	if (key_find(name) != NULL)
		return true;
	memcpy(var + vlen, "_FILE", 6);
	for (e = envp; *e != NULL; e++) {
		if (strncmp(*e, var, vlen + 5) != 0 || (*e)[vlen + 5] != '=')
			continue;
		if ((*e)[vlen + 6] != '\0' &&
		    !secret_from_file(c, k, *e + vlen + 6, var, err, errlen))
			return false;
		break;
	}
	return true;
}

static bool
env_load(struct cfg *c, char *const *envp, char *err, size_t errlen)
{
	char var[sizeof(ENV_PREFIX) + CFG_KEY_SHOWN_MAX];
	size_t i, j, vlen;
	char *const *e;

	for (i = 0; i < NKEYS; i++) {
		vlen = sizeof(ENV_PREFIX) - 1;
		memcpy(var, ENV_PREFIX, vlen);
		for (j = 0; keys[i].name[j] != '\0' && vlen + 1 < sizeof(var);
		    j++)
			var[vlen++] = (char)toupper(
			    (unsigned char)keys[i].name[j]);
		var[vlen] = '\0';

		if ((keys[i].flags & K_SECRET) && vlen + 5 < sizeof(var) &&
		    !env_file(c, &keys[i], envp, var, vlen, err, errlen))
			return false;
		var[vlen] = '\0';
		for (e = envp; *e != NULL; e++) {
			if (strncmp(*e, var, vlen) != 0 || (*e)[vlen] != '=')
				continue;
			if (!key_set(c, &keys[i], *e + vlen + 1, var, err,
			    errlen))
				return false;
			break;
		}
	}
	return true;
}

/*
 * Defaults, then the file at path (NULL: none), then envp (NULL: none).
 * BD_ERR_CONFIG with err filled on the first bad line or variable, *c freed;
 * on BD_OK the caller owns *c and releases it with cfg_free().
 */
enum bd_err
cfg_load(struct cfg *c, const char *path, char *const *envp, char *err,
    size_t errlen)
{
	enum bd_err rc = BD_ERR_CONFIG;
	char dummy[1];
	size_t i, len;
	char **p;

	if (err == NULL || errlen == 0) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	err[0] = '\0';
	memset(c, 0, sizeof(*c));

	for (i = 0; i < NKEYS; i++) {
		if (keys[i].type == K_INT || keys[i].type == K_BOOL)
			*(int *)((char *)c + keys[i].off) = (int)keys[i].dnum;
		else if (keys[i].type == K_LONG)
			*(long *)((char *)c + keys[i].off) = keys[i].dnum;
		else if (keys[i].dstr != NULL) {
			p = str_at(c, &keys[i]);
			len = strlen(keys[i].dstr);
			if ((*p = malloc(len + 1)) == NULL) {
				rc = BD_ERR_NOMEM;
				snprintf(err, errlen, "out of memory");
				goto out;
			}
			memcpy(*p, keys[i].dstr, len + 1);
		}
	}
	cur_layer = 1;
	if (path != NULL && !file_load(c, path, err, errlen))
		goto out;
	cur_layer = 2;
	if (envp != NULL && !env_load(c, envp, err, errlen))
		goto out;
	if (!resolve_pm(c, err, errlen))
		goto out;
	rc = BD_OK;
out:
	if (rc != BD_OK)
		cfg_free(c);
	return rc;
}

/* Free every string (secrets wiped first) and zero *c; NULL is a no-op. */
void
cfg_free(struct cfg *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < NKEYS; i++)
		if (keys[i].type == K_STR)
			str_free(c, &keys[i]);
	memset(c, 0, sizeof(*c));
}

/* Every key name in table order, NULL-terminated; static storage. */
const char *const *
cfg_key_names(void)
{
	return key_names;
}

/* -c, else $BACKUPD_CONFIG, else the built-in default when it exists. */
const char *
cfg_pick_path(const char *given)
{
	const char *env = getenv("BACKUPD_CONFIG");

	if (given != NULL)
		return given;
	if (env != NULL && env[0] != '\0')
		return env;
	return access(BD_DEFAULT_CONFIG, F_OK) == 0 ? BD_DEFAULT_CONFIG : NULL;
}

size_t
cfg_key_count(void)
{
	return NKEYS;
}

void
cfg_key_info(size_t i, struct cfg_key_info *out)
{
	const struct key *k = &keys[i];

	memset(out, 0, sizeof(*out));
	out->name = k->name;
	/* An on/off key shows as a string key whose default is on or off. */
	out->is_int = k->type == K_INT || k->type == K_LONG;
	out->dstr = k->type == K_BOOL ? (k->dnum ? "on" : "off") : k->dstr;
	out->dnum = k->dnum;
	out->min = k->min;
	out->max = k->max;
	out->secret = (k->flags & K_SECRET) != 0;
}

const char *
cfg_key_value(const struct cfg *c, size_t i, char *buf, size_t len)
{
	const struct key *k = &keys[i];
	const char *v;

	if (k->type == K_INT)
		snprintf(buf, len, "%d", *(const int *)((const char *)c +
		    k->off));
	else if (k->type == K_BOOL)
		snprintf(buf, len, "%s", *(const int *)((const char *)c +
		    k->off) ? "on" : "off");
	else if (k->type == K_LONG)
		snprintf(buf, len, "%ld", *(const long *)((const char *)c +
		    k->off));
	else {
		v = *(char *const *)((const char *)c + k->off);
		snprintf(buf, len, "%s", v == NULL ? "" :
		    (k->flags & K_SECRET) ? "********" : v);
	}
	return buf;
}

int
cfg_secret_mode_ok(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (path == NULL || stat(path, &st) != 0)
		return 1;
	return mode_ok(path, &st, err, errlen);
}

enum bd_err
cfg_check_files(const struct cfg *c, const char *cfg_path, char *err,
    size_t errlen)
{
	if (!cfg_secret_mode_ok(c->keyring_file, err, errlen) ||
	    !cfg_secret_mode_ok(c->jwt_key_file, err, errlen) ||
	    (c->secret_in_file &&
	    !cfg_secret_mode_ok(cfg_path, err, errlen)))
		return BD_ERR_CONFIG;
	return BD_OK;
}
