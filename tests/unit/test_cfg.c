/* Unit tests for lib/cfg.c: defaults, file syntax, environment, errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"
#include "db.h"

#define SENTINEL "Sentinel-S3cr3t-7f1c"

/* Write text to a fresh temporary file; path into out (caller unlinks). */
static void
write_tmp(const char *text, char *out, size_t outlen)
{
	const char *dir = getenv("TMPDIR");
	size_t len = strlen(text);
	int fd;

	snprintf(out, outlen, "%s/test_cfg.XXXXXX", dir ? dir : "/tmp");
	assert_true((fd = mkstemp(out)) >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
}

/* Load text (NULL: no file) with env; returns rc, error text into err. */
static enum bd_err
load(struct cfg *c, const char *text, char *const *env, char *path,
    size_t pathlen, char *err, size_t errlen)
{
	enum bd_err rc;

	path[0] = '\0';
	if (text != NULL)
		write_tmp(text, path, pathlen);
	rc = cfg_load(c, text != NULL ? path : NULL, env, err, errlen);
	if (text != NULL)
		unlink(path);
	return rc;
}

static void
test_defaults(void **state)
{
	struct cfg c;
	char err[256];

	assert_int_equal(cfg_load(&c, NULL, NULL, err, sizeof(err)), BD_OK);
	assert_string_equal(c.listen, "unix:/run/backupd/backupd.sock");
	assert_int_equal(c.workers, 4);
	assert_int_equal(c.max_requests, 10000);
	assert_int_equal(c.request_timeout, 60);
	assert_null(c.db_host);
	assert_null(c.db_socket);
	assert_null(c.db_hosts);
	assert_null(c.db_user);
	assert_null(c.db_password);
	assert_null(c.db_name);
	assert_int_equal(c.db_port, 3306);
	assert_null(c.keyring_file);
	assert_string_equal(c.jwt_alg, "HS256");
	assert_null(c.jwt_key);
	assert_null(c.jwt_key_file);
	assert_null(c.jwt_issuer);
	assert_null(c.jwt_audience);
	assert_string_equal(c.jwt_org_claim, "org_id");
	assert_int_equal(c.jwt_leeway, 60);
	assert_null(c.settings_url);
	assert_null(c.oauth_redirect_uri);
	assert_null(c.google_client_id);
	assert_null(c.google_client_secret);
	assert_string_equal(c.google_auth_url,
	    "https://accounts.google.com/o/oauth2/v2/auth");
	assert_string_equal(c.google_token_url,
	    "https://oauth2.googleapis.com/token");
	assert_string_equal(c.google_api_url, "https://www.googleapis.com");
	assert_null(c.microsoft_client_id);
	assert_null(c.microsoft_client_secret);
	assert_string_equal(c.microsoft_login_url,
	    "https://login.microsoftonline.com");
	assert_string_equal(c.microsoft_graph_url,
	    "https://graph.microsoft.com/v1.0");
	assert_string_equal(c.gcs_api_url, "https://storage.googleapis.com");
	assert_null(c.dropbox_client_id);
	assert_null(c.dropbox_client_secret);
	assert_string_equal(c.dropbox_auth_url,
	    "https://www.dropbox.com/oauth2/authorize");
	assert_string_equal(c.dropbox_api_url, "https://api.dropboxapi.com");
	assert_string_equal(c.dropbox_content_url,
	    "https://content.dropboxapi.com");
	assert_null(c.egress_deny);
	assert_null(c.egress_allow);
	assert_null(c.local_roots);
	assert_null(c.ca_file);
	assert_int_equal(c.probe_connect_timeout, 5);
	assert_int_equal(c.probe_timeout, 20);
	assert_int_equal(c.max_body, 65536);
	cfg_free(&c);
	assert_null(c.listen);
}

static void
test_key_names(void **state)
{
	const char *const *names = cfg_key_names();
	size_t i, j, n;

	for (n = 0; names[n] != NULL; n++)
		;
	/* One key per member of struct cfg (56, 5 dropbox_*, min_free_bytes,
	 * db_hosts). */
	assert_int_equal(n, 63);
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			assert_string_not_equal(names[i], names[j]);
	assert_string_equal(names[0], "listen");
	assert_string_equal(names[n - 1], "listen_mode");
}

/* Every key named by cfg_key_names() is accepted in a file. */
static void
test_every_key_settable(void **state)
{
	const char *const *names = cfg_key_names();
	char text[8192], path[256], err[256];
	struct cfg c;
	size_t i, off = 0;

	for (i = 0; names[i] != NULL; i++) {
		const char *v = "x";

		if (strcmp(names[i], "listen") == 0)
			v = "127.0.0.1:9000";
		else if (strcmp(names[i], "jwt_alg") == 0)
			v = "RS256";
		else if (strstr(names[i], "_url") != NULL ||
		    strstr(names[i], "_uri") != NULL)
			v = "https://example.test/x";
		else if (strncmp(names[i], "egress_", 7) == 0)
			v = "10.0.0.0/8";
		else if (strcmp(names[i], "local_roots") == 0)
			v = "/srv/backups";
		else if (strcmp(names[i], "max_body") == 0)
			v = "1048576";
		else if (strcmp(names[i], "pm") == 0)
			v = "ondemand";
		else if (strstr(names[i], "_path") != NULL)
			v = "/x-ping";
		else if (strcmp(names[i], "log_file") == 0)
			v = "/var/log/backupd.log";
		else if (strcmp(names[i], "listen_allowed_clients") == 0)
			v = "127.0.0.1, ::1";
		else if (strcmp(names[i], "listen_mode") == 0)
			v = "0600";
		else if (strncmp(names[i], "pm_", 3) == 0 ||
		    strncmp(names[i], "probe_slots", 11) == 0)
			v = "7";
		else if (strcmp(names[i], "local_per_org") == 0 ||
		    strcmp(names[i], "oauth_bind_browser") == 0)
			v = "off";
		else if (strcmp(names[i], "min_free_bytes") == 0)
			v = "5368709120";
		else if (strcmp(names[i], "workers") == 0 ||
		    strcmp(names[i], "db_port") == 0 ||
		    strstr(names[i], "timeout") != NULL ||
		    strcmp(names[i], "max_requests") == 0 ||
		    strcmp(names[i], "jwt_leeway") == 0)
			v = "7";
		off += (size_t)snprintf(text + off, sizeof(text) - off,
		    "%s = %s\n", names[i], v);
		assert_true(off < sizeof(text));
	}
	if (load(&c, text, NULL, path, sizeof(path), err, sizeof(err)) !=
	    BD_OK)
		fail_msg("%s", err);
	assert_string_equal(c.db_password, "x");
	assert_string_equal(c.ca_file, "x");
	assert_int_equal(c.probe_timeout, 7);
	assert_int_equal(c.max_body, 1048576);
	assert_true(c.min_free_bytes == 5368709120L);
	cfg_free(&c);
}

static void
test_file_syntax(void **state)
{
	static const char text[] =
	    "# backupd.conf\n"
	    "\n"
	    "   # indented comment\n"
	    "listen = 127.0.0.1:9000\n"
	    "\tworkers=8\t\n"
	    "db_password = \"  spaced # not a comment  \"\n"
	    "db_user = backupd # trailing text is part of the value\n"
	    "db_name = \"\"\n"
	    "jwt_issuer =\n"
	    "db_host = db.example = weird\r\n"
	    "max_body = 1048576\r\n"
	    "local_roots = /srv/a , /srv/b\n"
	    "egress_allow = 127.0.0.0/8, ::1\n"
	    "jwt_leeway = 0";
	char path[256], err[256];
	struct cfg c;

	if (load(&c, text, NULL, path, sizeof(path), err, sizeof(err)) !=
	    BD_OK)
		fail_msg("%s", err);
	assert_string_equal(c.listen, "127.0.0.1:9000");
	assert_int_equal(c.workers, 8);
	assert_string_equal(c.db_password, "  spaced # not a comment  ");
	assert_string_equal(c.db_user,
	    "backupd # trailing text is part of the value");
	assert_null(c.db_name);
	assert_null(c.jwt_issuer);
	assert_string_equal(c.db_host, "db.example = weird");
	assert_int_equal(c.max_body, 1048576);
	assert_string_equal(c.local_roots, "/srv/a , /srv/b");
	assert_string_equal(c.egress_allow, "127.0.0.0/8, ::1");
	assert_int_equal(c.jwt_leeway, 0);
	assert_string_equal(c.jwt_alg, "HS256");
	cfg_free(&c);
}

static void
test_env_wins(void **state)
{
	static const char text[] =
	    "workers = 8\n"
	    "jwt_key = from-file\n"
	    "db_name = backupd\n";
	char *env[] = {
		"PATH=/usr/bin",
		"WORKERS=99",
		"BACKUPD_CONFIG=/etc/backupd.conf",
		"BACKUPD_STACK_DIR=var",
		"BACKUPD_HTTP_PORT=8080",
		"BACKUPD_URL=http://127.0.0.1:8080",
		"BACKUPD_WORKERSX=3",
		"BACKUPD_WORKERS=16",
		"BACKUPD_WORKERS=17",
		"BACKUPD_JWT_KEY=from-env",
		"BACKUPD_EGRESS_ALLOW=127.0.0.0/8",
		"BACKUPD_DB_NAME=",
		"backupd_max_body=2048",
		NULL,
	};
	char path[256], err[256];
	struct cfg c;

	if (load(&c, text, env, path, sizeof(path), err, sizeof(err)) !=
	    BD_OK)
		fail_msg("%s", err);
	assert_int_equal(c.workers, 16);
	assert_string_equal(c.jwt_key, "from-env");
	assert_string_equal(c.egress_allow, "127.0.0.0/8");
	assert_null(c.db_name);
	assert_int_equal(c.max_body, 65536);
	cfg_free(&c);

	/* Environment alone, no file. */
	if (load(&c, NULL, env, path, sizeof(path), err, sizeof(err)) != BD_OK)
		fail_msg("%s", err);
	assert_int_equal(c.workers, 16);
	cfg_free(&c);
}

/*
 * Bad files and variables. Expected text starting with ':' follows the
 * file's path; the whole error text must match.
 */
static void
test_errors(void **state)
{
	static const struct {
		const char *text;
		const char *env;
		const char *want;
	} cases[] = {
		{"foo = 1\n", NULL, ":1: unknown key 'foo'"},
		{"\n# c\nWorkers = 1\n", NULL, ":3: unknown key 'Workers'"},
		{"listen=unix:/a\nbogus key = 1\n", NULL,
		    ":2: invalid key name"},
		{"workers\n", NULL, ":1: expected 'key = value'"},
		{"= 3\n", NULL, ":1: missing key before '='"},
		{"workers = 2\n\nworkers = 3\n", NULL,
		    ":3: key 'workers': duplicate (first set on line 1)"},
		{"workers = 0\n", NULL,
		    ":1: key 'workers': must be an integer between 1 and 256"},
		{"workers = 257\n", NULL,
		    ":1: key 'workers': must be an integer between 1 and 256"},
		{"workers = abc\n", NULL,
		    ":1: key 'workers': must be an integer between 1 and 256"},
		{"workers = 4x\n", NULL,
		    ":1: key 'workers': must be an integer between 1 and 256"},
		{"workers = +4\n", NULL,
		    ":1: key 'workers': must be an integer between 1 and 256"},
		{"workers = \" 4\"\n", NULL,
		    ":1: key 'workers': must be an integer between 1 and 256"},
		{"workers = 0x10\n", NULL,
		    ":1: key 'workers': must be an integer between 1 and 256"},
		{"workers = -\n", NULL,
		    ":1: key 'workers': must be an integer between 1 and 256"},
		{"workers =\n", NULL,
		    ":1: key 'workers': must be an integer between 1 and 256"},
		{"workers = 99999999999999999999999\n", NULL,
		    ":1: key 'workers': must be an integer between 1 and 256"},
		{"max_requests = 0\n", NULL, ":1: key 'max_requests': must be "
		    "an integer between 1 and 2147483647"},
		{"max_requests = 2147483648\n", NULL, ":1: key 'max_requests': "
		    "must be an integer between 1 and 2147483647"},
		{"jwt_leeway = -1\n", NULL,
		    ":1: key 'jwt_leeway': must be an integer between 0 and "
		    "3600"},
		{"db_port = 65536\n", NULL,
		    ":1: key 'db_port': must be an integer between 1 and 65535"},
		{"max_body = 1023\n", NULL, ":1: key 'max_body': must be an "
		    "integer between 1024 and 16777216"},
		{"max_body = 16777217\n", NULL, ":1: key 'max_body': must be an "
		    "integer between 1024 and 16777216"},
		{"probe_timeout = 601\n", NULL, ":1: key 'probe_timeout': must "
		    "be an integer between 1 and 600"},
		{"jwt_alg = none\n", NULL, ":1: key 'jwt_alg': must be one of "
		    "HS256 HS384 HS512 RS256 RS384 RS512 ES256 ES384 ES512"},
		{"jwt_alg = hs256\n", NULL, ":1: key 'jwt_alg': must be one of "
		    "HS256 HS384 HS512 RS256 RS384 RS512 ES256 ES384 ES512"},
		{"jwt_alg = None\n", NULL, ":1: key 'jwt_alg': must be one of "
		    "HS256 HS384 HS512 RS256 RS384 RS512 ES256 ES384 ES512"},
		{"jwt_alg =\n", NULL, ":1: key 'jwt_alg': must not be empty"},
		{"listen = \"\"\n", NULL, ":1: key 'listen': must not be empty"},
		{"jwt_org_claim = org id\n", NULL,
		    ":1: key 'jwt_org_claim': must be a name without spaces"},
		{"db_password = \"abc\n", NULL,
		    ":1: key 'db_password': unterminated quote"},
		{"db_password = \"\n", NULL,
		    ":1: key 'db_password': unterminated quote"},
		{"egress_deny = 10.0.0.0/8, 1.2.3.4/33\n", NULL,
		    ":1: key 'egress_deny': invalid CIDR '1.2.3.4/33'"},
		{"egress_allow = 0177.0.0.1\n", NULL,
		    ":1: key 'egress_allow': invalid CIDR '0177.0.0.1'"},
		{"local_roots = srv/backups\n", NULL, ":1: key 'local_roots': "
		    "must be comma-separated absolute paths"},
		{"local_roots = /a,,/b\n", NULL, ":1: key 'local_roots': "
		    "must be comma-separated absolute paths"},
		{"local_roots = /a,\n", NULL, ":1: key 'local_roots': "
		    "must be comma-separated absolute paths"},
		{"settings_url = ftp://x\n", NULL, ":1: key 'settings_url': "
		    "must be an http:// or https:// URL"},
		{"google_token_url = https://\n", NULL, ":1: key "
		    "'google_token_url': must be an http:// or https:// URL"},
		{"gcs_api_url = https://a b\n", NULL, ":1: key 'gcs_api_url': "
		    "must be an http:// or https:// URL"},
		{"workers = 2\n", "BACKUPD_WORKERS=0",
		    "BACKUPD_WORKERS: must be an integer between 1 and 256"},
		{NULL, "BACKUPD_JWT_ALG=none", "BACKUPD_JWT_ALG: must be one of "
		    "HS256 HS384 HS512 RS256 RS384 RS512 ES256 ES384 ES512"},
		{NULL, "BACKUPD_LISTEN=", "BACKUPD_LISTEN: must not be empty"},
		{NULL, "BACKUPD_EGRESS_DENY=abc",
		    "BACKUPD_EGRESS_DENY: invalid CIDR 'abc'"},
	};
	char path[256], err[512], want[512];
	char *env[2];
	struct cfg c;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		env[0] = (char *)cases[i].env;
		env[1] = NULL;
		memset(&c, 0xa5, sizeof(c)); /* cfg_load must not trust it */
		if (load(&c, cases[i].text, env, path, sizeof(path), err,
		    sizeof(err)) != BD_ERR_CONFIG)
			fail_msg("case %zu: loaded", i);
		snprintf(want, sizeof(want), "%s%s",
		    cases[i].want[0] == ':' ? path : "", cases[i].want);
		if (strcmp(err, want) != 0)
			fail_msg("case %zu:\n got: %s\nwant: %s", i, err, want);
		/* Left freed. */
		assert_null(c.listen);
		assert_null(c.jwt_alg);
		assert_null(c.db_password);
	}
}

static void
test_listen(void **state)
{
	static const struct {
		const char *v;
		bool ok;
	} cases[] = {
		{"unix:/run/backupd/backupd.sock", true},
		{"127.0.0.1:9000", true},
		{"localhost:9000", true},
		{"backupd-1.internal:65535", true},
		{"[::1]:9000", true},
		{"[2001:db8::1]:1", true},
		{"unix:run/backupd.sock", false},
		{"unix:", false},
		{"unix:/a/very/long/path/0123456789012345678901234567890123456789"
		    "0123456789012345678901234567890123456789012345678.sock", false},
		{"localhost", false},
		{"9000", false},
		{":9000", false},
		{"host:0", false},
		{"host:65536", false},
		{"host:", false},
		{"host:80x", false},
		{"::1:9000", false},
		{"[::1]", false},
		{"[::1]:", false},
		{"[::1]9000", false},
		{"[1.2.3.4]:80", false},
		{"[]:80", false},
		{"ho st:80", false},
		{"tcp://host:80", false},
	};
	char path[256], err[512], text[512];
	struct cfg c;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "listen = %s\n", cases[i].v);
		if ((load(&c, text, NULL, path, sizeof(path), err,
		    sizeof(err)) == BD_OK) != cases[i].ok)
			fail_msg("'%s': expected %s", cases[i].v,
			    cases[i].ok ? "accepted" : "refused");
		if (cases[i].ok)
			assert_string_equal(c.listen, cases[i].v);
		cfg_free(&c);
	}
}

/* No error text ever contains a secret, wherever the mistake is. */
static void
test_secrets_not_in_errors(void **state)
{
	static const struct {
		const char *text;
		const char *env;
	} cases[] = {
		{"db_password = " SENTINEL "\nbogus line\n", NULL},
		{"db_password = " SENTINEL "\nworkers = x\n", NULL},
		{"db_password " SENTINEL "\n", NULL},
		{"db_password: " SENTINEL " = x\n", NULL},
		{"db_password = " SENTINEL "\ndb_password = " SENTINEL "\n", NULL},
		{"jwt_key = \"" SENTINEL "\n", NULL},
		{"google_client_secret = \"" SENTINEL "\n", NULL},
		{"jwt_alg = " SENTINEL "\n", NULL},
		{"listen = " SENTINEL "\n", NULL},
		{"settings_url = " SENTINEL "\n", NULL},
		{"local_roots = " SENTINEL "\n", NULL},
		{"workers = " SENTINEL "\n", NULL},
		{"microsoft_client_secret = " SENTINEL "\n",
		    "BACKUPD_WORKERS=" SENTINEL},
		{NULL, "BACKUPD_JWT_ALG=" SENTINEL},
		{NULL, "BACKUPD_DB_PORT=" SENTINEL},
	};
	char path[256], err[512];
	char *env[2];
	struct cfg c;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		env[0] = (char *)cases[i].env;
		env[1] = NULL;
		assert_int_equal(load(&c, cases[i].text, env, path,
		    sizeof(path), err, sizeof(err)), BD_ERR_CONFIG);
		assert_true(err[0] != '\0');
		if (strstr(err, SENTINEL) != NULL || strstr(err, "S3cr3t"))
			fail_msg("case %zu leaks: %s", i, err);
	}
}

static void
test_missing_file(void **state)
{
	char err[512];
	struct cfg c;

	assert_int_equal(cfg_load(&c, "/nonexistent/backupd.conf", NULL, err,
	    sizeof(err)), BD_ERR_CONFIG);
	assert_string_equal(err,
	    "/nonexistent/backupd.conf: No such file or directory");
	assert_int_equal(cfg_load(&c, "/", NULL, err, sizeof(err)),
	    BD_ERR_CONFIG);
	assert_string_equal(err, "/: is a directory");
	/* No room for an error is fine. */
	assert_int_equal(cfg_load(&c, "/nonexistent", NULL, NULL, 0),
	    BD_ERR_CONFIG);
}

static void
test_free_zeroed(void **state)
{
	struct cfg c;

	memset(&c, 0, sizeof(c));
	cfg_free(&c);
	cfg_free(&c);
	cfg_free(NULL);
	assert_int_equal(cfg_load(&c, NULL, NULL, NULL, 0), BD_OK);
	cfg_free(&c);
	cfg_free(&c);
	assert_null(c.listen);
}

/* Secrets read from <key>_file and BACKUPD_<KEY>_FILE; the mode rule. */
static void
test_secret_files(void **state)
{
	char sec[256], conf[256], text[600], err[512], envv[320];
	char *env[2] = {NULL, NULL};
	struct cfg c;

	write_tmp(SENTINEL "\n", sec, sizeof(sec));
	assert_int_equal(chmod(sec, 0640), 0);
	/* File key: one trailing newline dropped. */
	snprintf(text, sizeof(text), "db_password_file = %s\n", sec);
	write_tmp(text, conf, sizeof(conf));
	assert_int_equal(cfg_load(&c, conf, NULL, err, sizeof(err)), BD_OK);
	assert_string_equal(c.db_password, SENTINEL);
	/* The config itself holds no secret: its mode does not matter. */
	assert_int_equal(c.secret_in_file, 0);
	assert_int_equal(chmod(conf, 0644), 0);
	assert_int_equal(cfg_check_files(&c, conf, err, sizeof(err)), BD_OK);
	cfg_free(&c);
	/* Environment; the plain variable wins over the _FILE one. */
	snprintf(envv, sizeof(envv), "BACKUPD_GOOGLE_CLIENT_SECRET_FILE=%s",
	    sec);
	env[0] = envv;
	assert_int_equal(cfg_load(&c, NULL, env, err, sizeof(err)), BD_OK);
	assert_string_equal(c.google_client_secret, SENTINEL);
	cfg_free(&c);
	/* Readable by others, or writable by the group: refused, the path
	 * named, the content never. */
	assert_int_equal(chmod(sec, 0644), 0);
	assert_int_equal(cfg_load(&c, conf, NULL, err, sizeof(err)),
	    BD_ERR_CONFIG);
	assert_non_null(strstr(err, sec));
	assert_non_null(strstr(err, "db_password_file"));
	assert_null(strstr(err, "S3cr3t"));
	assert_int_equal(chmod(sec, 0660), 0);
	assert_int_equal(cfg_load(&c, NULL, env, err, sizeof(err)),
	    BD_ERR_CONFIG);
	assert_non_null(strstr(err, "BACKUPD_GOOGLE_CLIENT_SECRET_FILE"));
	assert_null(strstr(err, "S3cr3t"));
	unlink(conf);
	/* Both the key and its _file: a duplicate. */
	snprintf(text, sizeof(text), "db_password = x\ndb_password_file = "
	    "%s\n", sec);
	write_tmp(text, conf, sizeof(conf));
	assert_int_equal(cfg_load(&c, conf, NULL, err, sizeof(err)),
	    BD_ERR_CONFIG);
	assert_non_null(strstr(err, "duplicate"));
	unlink(conf);
	/* A non-secret key has no _file variant; relative paths refused. */
	write_tmp("db_user_file = /x\n", conf, sizeof(conf));
	assert_int_equal(cfg_load(&c, conf, NULL, err, sizeof(err)),
	    BD_ERR_CONFIG);
	assert_non_null(strstr(err, "unknown key 'db_user_file'"));
	unlink(conf);
	write_tmp("jwt_key = y\ndb_password_file = rel\n", conf, sizeof(conf));
	assert_int_equal(cfg_load(&c, conf, NULL, err, sizeof(err)),
	    BD_ERR_CONFIG);
	assert_non_null(strstr(err, "absolute"));
	unlink(conf);
	/* A config holding a secret must itself be private. */
	write_tmp("jwt_key = y\n", conf, sizeof(conf));
	assert_int_equal(cfg_load(&c, conf, NULL, err, sizeof(err)), BD_OK);
	assert_int_equal(c.secret_in_file, 1);
	assert_int_equal(cfg_check_files(&c, conf, err, sizeof(err)), BD_OK);
	assert_int_equal(chmod(conf, 0604), 0);
	assert_int_equal(cfg_check_files(&c, conf, err, sizeof(err)),
	    BD_ERR_CONFIG);
	assert_non_null(strstr(err, "accessible to others"));
	cfg_free(&c);
	unlink(conf);
	unlink(sec);
}

/* The key table as cfg_key_info / cfg_key_value show it. */
static void
test_key_info(void **state)
{
	struct cfg_key_info ki;
	struct cfg c;
	char buf[64], err[256];
	size_t i, n = cfg_key_count();
	int seen_secret = 0;

	assert_int_equal(cfg_load(&c, NULL, NULL, err, sizeof(err)), BD_OK);
	for (i = 0; i < n; i++) {
		cfg_key_info(i, &ki);
		assert_string_equal(ki.name, cfg_key_names()[i]);
		if (strcmp(ki.name, "workers") == 0) {
			assert_true(ki.is_int);
			assert_string_equal(cfg_key_value(&c, i, buf,
			    sizeof(buf)), "4");
		}
		if (strcmp(ki.name, "db_password") == 0) {
			seen_secret = ki.secret;
			assert_string_equal(cfg_key_value(&c, i, buf,
			    sizeof(buf)), "");
			c.db_password = strdup(SENTINEL);
			assert_string_equal(cfg_key_value(&c, i, buf,
			    sizeof(buf)), "********");
		}
	}
	assert_null(cfg_key_names()[n]);
	assert_true(seen_secret);
	cfg_free(&c);
}

/* The process manager's defaults and the `workers` alias (issue 8). */
static void
test_pm_resolution(void **state)
{
	char *env_dyn[] = {"BACKUPD_PM=dynamic", NULL};
	char *env_max[] = {"BACKUPD_PM_MAX_CHILDREN=3", NULL};
	char path[256], err[256];
	struct cfg c;

	(void)state;
	/* nothing given: dynamic 32/4/2/8/10, probe slots 32 - 4, 2 per org */
	assert_int_equal(load(&c, "", NULL, path, sizeof(path), err,
	    sizeof(err)), BD_OK);
	assert_string_equal(c.pm, "dynamic");
	assert_int_equal(c.pm_max_children, 32);
	assert_int_equal(c.pm_start_servers, 4);
	assert_int_equal(c.pm_min_spare, 2);
	assert_int_equal(c.pm_max_spare, 8);
	assert_int_equal(c.pm_process_idle_timeout, 10);
	assert_int_equal(c.probe_slots, 28);
	assert_int_equal(c.probe_slots_per_org, 2);
	assert_string_equal(c.ping_path, "/backup-destinations-ping");
	assert_string_equal(c.status_path, "/backup-destinations-status");
	assert_int_equal(c.request_slowlog_timeout, 5);
	assert_string_equal(c.listen_mode, "0660");
	assert_null(c.log_file);
	cfg_free(&c);
	/* workers alone: static with that many */
	assert_int_equal(load(&c, "workers = 6\n", NULL, path, sizeof(path),
	    err, sizeof(err)), BD_OK);
	assert_string_equal(c.pm, "static");
	assert_int_equal(c.pm_max_children, 6);
	assert_int_equal(c.probe_slots, 2);
	cfg_free(&c);
	/* an explicit pm wins over workers; pm_max_children over workers */
	assert_int_equal(load(&c, "workers = 6\n", env_dyn, path,
	    sizeof(path), err, sizeof(err)), BD_OK);
	assert_string_equal(c.pm, "dynamic");
	assert_int_equal(c.pm_max_children, 32);
	cfg_free(&c);
	assert_int_equal(load(&c, "workers = 6\npm = static\n", env_max, path,
	    sizeof(path), err, sizeof(err)), BD_OK);
	assert_int_equal(c.pm_max_children, 3);
	/* fewer children than reserved: one slot, per org clamped to it */
	assert_int_equal(c.probe_slots, 1);
	assert_int_equal(c.probe_slots_per_org, 1);
	cfg_free(&c);
	/* bad values name their key */
	assert_int_equal(load(&c, "pm = fast\n", NULL, path, sizeof(path),
	    err, sizeof(err)), BD_ERR_CONFIG);
	assert_non_null(strstr(err, "'pm'"));
	assert_int_equal(load(&c, "pm_min_spare = 9\npm_max_spare = 3\n",
	    NULL, path, sizeof(path), err, sizeof(err)), BD_ERR_CONFIG);
	assert_non_null(strstr(err, "pm_min_spare"));
	assert_int_equal(load(&c, "listen_allowed_clients = 10.0.0.0/8\n",
	    NULL, path, sizeof(path), err, sizeof(err)), BD_ERR_CONFIG);
	assert_non_null(strstr(err, "listen_allowed_clients"));
	assert_int_equal(load(&c, "listen_mode = 999\n", NULL, path,
	    sizeof(path), err, sizeof(err)), BD_ERR_CONFIG);
	assert_int_equal(load(&c, "ping_path = ping\n", NULL, path,
	    sizeof(path), err, sizeof(err)), BD_ERR_CONFIG);
	assert_int_equal(load(&c, "log_file = relative.log\n", NULL, path,
	    sizeof(path), err, sizeof(err)), BD_ERR_CONFIG);
}

/* on/off keys (issue 13): default on, the usual spellings, nothing else. */
static void
test_bool_keys(void **state)
{
	static const struct {
		const char *text;
		enum bd_err rc;
		int want;
	} cases[] = {
		{"local_per_org = off\n", BD_OK, 0},
		{"local_per_org = OFF\n", BD_OK, 0},
		{"local_per_org = no\n", BD_OK, 0},
		{"local_per_org = false\n", BD_OK, 0},
		{"local_per_org = 0\n", BD_OK, 0},
		{"local_per_org = on\n", BD_OK, 1},
		{"local_per_org = yes\n", BD_OK, 1},
		{"local_per_org = 1\n", BD_OK, 1},
		{"local_per_org = 2\n", BD_ERR_CONFIG, 0},
		{"local_per_org = of\n", BD_ERR_CONFIG, 0},
		{"local_per_org =\n", BD_ERR_CONFIG, 0},
	};
	char *const env[] = {"BACKUPD_OAUTH_BIND_BROWSER=off", NULL};
	char path[256], err[256];
	struct cfg c;
	size_t i;

	(void)state;
	assert_int_equal(cfg_load(&c, NULL, NULL, err, sizeof(err)), BD_OK);
	assert_int_equal(c.local_per_org, 1);
	assert_int_equal(c.oauth_bind_browser, 1);
	cfg_free(&c);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (load(&c, cases[i].text, NULL, path, sizeof(path), err,
		    sizeof(err)) != cases[i].rc)
			fail_msg("%s: %s", cases[i].text, err);
		if (cases[i].rc == BD_OK)
			assert_int_equal(c.local_per_org, cases[i].want);
		else
			assert_non_null(strstr(err, "on or off"));
		cfg_free(&c);
	}
	assert_int_equal(load(&c, NULL, env, path, sizeof(path), err,
	    sizeof(err)), BD_OK);
	assert_int_equal(c.oauth_bind_browser, 0);
	cfg_free(&c);
}

static bool
node(const char *s, struct cfg_db_node *n)
{
	return cfg_db_node_parse(s, strlen(s), n);
}

/* db_hosts items: host:port, host, [v6]:port, /socket; nothing else. */
static void
test_db_node_parse(void **state)
{
	struct cfg_db_node n;
	static const char *const bad[] = {"", ":3306", "h:", "h:0", "h:65536",
		"h:12a", "h:123456", "::1", "[]:1", "[::1]x", "a b:1", "h:1:2",
		"h\t:1", NULL};

	(void)state;
	assert_true(node("db1.example:3307", &n));
	assert_string_equal(n.host, "db1.example");
	assert_int_equal(n.port, 3307);
	assert_string_equal(n.socket, "");
	assert_true(node("127.0.0.1", &n));
	assert_string_equal(n.host, "127.0.0.1");
	assert_int_equal(n.port, 3306);
	assert_true(node("[::1]:4000", &n));
	assert_string_equal(n.host, "::1");
	assert_int_equal(n.port, 4000);
	assert_true(node("/run/mysqld/node2.sock", &n));
	assert_string_equal(n.socket, "/run/mysqld/node2.sock");
	assert_string_equal(n.host, "");
	for (size_t i = 0; bad[i] != NULL; i++)
		if (node(bad[i], &n))
			fail_msg("accepted db_hosts item '%s'", bad[i]);
}

/* db_hosts replaces db_host/db_port/db_socket; the list keeps its order;
 * a bad list is a config error. */
static void
test_db_hosts(void **state)
{
	struct cfg c;
	struct cfg_db_node n;
	char path[64], err[256];

	(void)state;
	assert_int_equal(load(&c, "db_host = single\ndb_port = 3310\n", NULL,
	    path, sizeof(path), err, sizeof(err)), BD_OK);
	assert_int_equal(db_node_count(&c), 1);
	assert_true(db_node(&c, 0, &n));
	assert_string_equal(n.host, "single");
	assert_int_equal(n.port, 3310);
	assert_false(db_node(&c, 1, &n));
	cfg_free(&c);

	assert_int_equal(load(&c, "db_host = single\ndb_hosts = a:1, "
	    "/tmp/b.sock ,[::1]:3\n", NULL, path, sizeof(path), err,
	    sizeof(err)), BD_OK);
	assert_int_equal(db_node_count(&c), 3);
	assert_true(db_node(&c, 0, &n));
	assert_string_equal(n.host, "a");
	assert_int_equal(n.port, 1);
	assert_true(db_node(&c, 1, &n));
	assert_string_equal(n.socket, "/tmp/b.sock");
	assert_true(db_node(&c, 2, &n));
	assert_string_equal(n.host, "::1");
	assert_false(db_node(&c, 3, &n));
	cfg_free(&c);

	assert_int_equal(load(&c, "db_hosts = a:1,,b:2\n", NULL, path,
	    sizeof(path), err, sizeof(err)), BD_ERR_CONFIG);
	assert_non_null(strstr(err, "db_hosts"));
	assert_int_equal(load(&c, "db_hosts = a:1,b:2,c,d,e,f,g,h,i\n", NULL,
	    path, sizeof(path), err, sizeof(err)), BD_ERR_CONFIG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_pm_resolution),
		cmocka_unit_test(test_key_names),
		cmocka_unit_test(test_every_key_settable),
		cmocka_unit_test(test_file_syntax),
		cmocka_unit_test(test_env_wins),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_listen),
		cmocka_unit_test(test_secrets_not_in_errors),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_free_zeroed),
		cmocka_unit_test(test_secret_files),
		cmocka_unit_test(test_key_info),
		cmocka_unit_test(test_bool_keys),
		cmocka_unit_test(test_db_node_parse),
		cmocka_unit_test(test_db_hosts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
