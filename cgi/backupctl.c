/*
 * backupctl: the operator tool next to backupd (backupctl(8)).
 *
 *   backupctl [-c FILE] [--json] <command> [options]
 *
 * The command table below is the single list of commands: dispatch, the
 * help texts (`backupctl --help`, `backupctl <command> --help`), the
 * COMMANDS section of backupctl(8) (`backupctl help --format man`) and the
 * bash completion (`backupctl completion bash`) all come from it.
 *
 * The config comes from -c FILE, else $BACKUPD_CONFIG, else the built-in
 * default path, overridden key by key by BACKUPD_* variables (cfg_load).
 * Exit status (ctl.h): 0 done, 1 failed, 2 usage, 3 a connection test ran
 * and failed, 4 a file holding a secret is readable by others. Secrets
 * (keys, tokens other than the one `token` is asked to print) never reach
 * stdout or stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "auth.h"
#include "cfg.h"
#include "ctl.h"
#include "err.h"
#include "bd_limits.h"
#include "dtype.h"
#include "uuid.h"
#include "vault.h"
#include "wipe.h"

extern char **environ;

#define ERRLEN 512
#define AUDIT_LIMIT_MAX 100000

struct cmd {
	const char *name;    /* one or two words: "keys list" */
	const char *args;    /* synopsis after the name */
	const char *summary; /* one line */
	const char *help;    /* the rest of its help, or NULL */
	const char *words;   /* its options, for completion */
	int (*fn)(const struct ctl *, int, char **);
};

static int c_keygen(const struct ctl *, int, char **);
static int c_token(const struct ctl *, int, char **);
static int c_check_config(const struct ctl *, int, char **);
static int c_rekey(const struct ctl *, int, char **);
static int c_migrate(const struct ctl *, int, char **);
static int c_keys_list(const struct ctl *, int, char **);
static int c_dest(const struct ctl *, int, char **);
static int c_audit(const struct ctl *, int, char **);
static int c_config_show(const struct ctl *, int, char **);
static int c_config_keys(const struct ctl *, int, char **);
static int c_help(const struct ctl *, int, char **);
static int c_completion(const struct ctl *, int, char **);
static int c_types(const struct ctl *, int, char **);
static int c_status(const struct ctl *, int, char **);

static const struct cmd cmds[] = {
	{"check-config", "", "Check the config, the keyring, the JWT key and "
	    "the permissions of every file holding a secret.",
	    "Names the wrong key (and file line). Exit 4 when a secret file "
	    "is readable by others or writable by its group.", "", 
	    c_check_config},
	{"config show", "", "Print the effective configuration (file, then "
	    "environment), secrets as ********.", NULL, "", c_config_show},
	{"config keys", "[--format text|conf|man]", "List every config key "
	    "with its default and meaning.",
	    "--format conf prints an example backupd.conf with every key "
	    "commented; --format man the FILE FORMAT section of "
	    "backupd.conf(5).", "--format", c_config_keys},
	{"migrate", "[--status] [SQL_DIR]", "Apply the pending migrations "
	    "(or, with --status, list them and exit 1 when one is pending).",
	    "SQL_DIR defaults to $BACKUPD_SQL_DIR, else " BD_SQL_DIR ". Run it "
	    "as a user with DDL rights (BACKUPD_DB_USER / "
	    "BACKUPD_DB_PASSWORD_FILE override the service's), before "
	    "installing a new binary.", "--status", c_migrate},
	{"keygen", "[--id ID] [--keyring FILE]", "Append a fresh key to the "
	    "keyring; it becomes the key that encrypts.",
	    "Run it on one host, back the file up offline, copy it to every "
	    "host of the pool, then reload them all.", "--id --keyring",
	    c_keygen},
	{"keys list", "", "List the keyring's keys and the rows each still "
	    "encrypts; says which key's line can go.",
	    "Exit 1 when rows use a key the keyring does not have.", "",
	    c_keys_list},
	{"rekey", "", "Re-encrypt every destination under the newest key "
	    "(safe while the service runs).", NULL, "", c_rekey},
	{"destinations list", "--org ORG [--type TYPE]", "List an "
	    "organization's destinations.", NULL, "--org --type", c_dest},
	{"destinations show", "--org ORG ID", "Show one destination as the API "
	    "does (secrets as ********).", NULL, "--org", c_dest},
	{"destinations test", "--org ORG ID", "Run a destination's connection "
	    "test from this host; nothing is recorded.",
	    "Uses this host's egress policy, ca_file and timeouts: the "
	    "quickest way to debug egress, CA and firewall problems. Exit 3 "
	    "when the test fails. OAuth destinations use their stored access "
	    "token (no refresh).", "--org", c_dest},
	{"test-all", "[--org ORG] [--older-than AGE] [--concurrency N]",
	    "Re-test the destinations whose last test is older than AGE "
	    "(default: all), recording each outcome as the API does.",
	    "Refreshes OAuth access tokens on the way; takes probe slots "
	    "(probe_slots_per_org) as requests do; run it from cron or "
	    "backupd-healthcheck.timer. Exit 3 when a test failed or a grant "
	    "needs authorizing again.", "--org --older-than --concurrency",
	    ctl_cmd_test_all},
	{"audit list", "[--org ORG] [--limit N]", "Print the newest audit "
	    "entries (default 50).", NULL, "--org --limit", c_audit},
	{"audit prune", "--older-than AGE", "Delete audit entries older than "
	    "AGE (90d, 12h, 30m or seconds).", NULL, "--older-than",
	    c_audit},
	{"token", "--org ORG [--role ROLE] [--sub SUB] [--ttl SECONDS]",
	    "Print a JWT signed with the configured HS* key (development and "
	    "tests).", NULL, "--org --role --sub --ttl", c_token},
	{"status", "[--json | --openmetrics]", "Print the pool's status page "
	    "(workers, probe slots, 429s, reloads), read over its own socket.",
	    "Talks FastCGI to `listen` as nginx would, so it works where nginx "
	    "does not expose status_path. --json prints the JSON document, "
	    "--openmetrics the Prometheus text; exit 1 when the pool does not "
	    "answer.", "--openmetrics", c_status},
	{"types", "[--oauth]", "Print the registry's destination types, one "
	    "per line (all, or the OAuth ones): what tests and scripts "
	    "iterate.", NULL, "--oauth", c_types},
	{"help", "[COMMAND] [--format text|man]", "Print this help, or one "
	    "command's.", NULL, "--format", c_help},
	{"completion", "bash", "Print the bash completion script.", NULL, "",
	    c_completion},
};
#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

static void
cmd_usage(FILE *f, const struct cmd *c)
{
	fprintf(f, "usage: backupctl [-c FILE] [--json] %s%s%s\n", c->name,
	    c->args[0] != '\0' ? " " : "", c->args);
}

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: backupctl [-c FILE] [--json] <command> [options]\n"
	    "       backupctl --version | --help | <command> --help\n\n"
	    "  FILE: -c, else $BACKUPD_CONFIG, else %s;\n"
	    "  BACKUPD_<KEY> variables override its keys. --json: one JSON\n"
	    "  document on stdout. Exit: 0 done, 1 failed, 2 usage, 3 test\n"
	    "  failed, 4 a secret file is readable by others.\n\ncommands:\n",
	    BD_DEFAULT_CONFIG);
	for (i = 0; i < NCMDS; i++)
		fprintf(f, "  %-20s %s\n", cmds[i].name, cmds[i].summary);
}

/* Usage line of one command, on stderr (argv[0] is its last word). */
static void
bad_usage(const char *word)
{
	size_t i;
	const char *sp;

	for (i = 0; i < NCMDS; i++) {
		sp = strrchr(cmds[i].name, ' ');
		if (strcmp(sp != NULL ? sp + 1 : cmds[i].name, word) == 0) {
			cmd_usage(stderr, &cmds[i]);
			return;
		}
	}
}

static void
cmd_help(const struct cmd *c)
{
	cmd_usage(stdout, c);
	printf("\n%s\n", c->summary);
	if (c->help != NULL)
		printf("%s\n", c->help);
}

/* See ctl.h. */
int
ctl_load_cfg(const struct ctl *ctl, struct cfg *c)
{
	char err[ERRLEN] = "";

	memset(c, 0, sizeof(*c));
	if (cfg_load(c, ctl->cfg_path, environ, err, sizeof(err)) != BD_OK) {
		fprintf(stderr, "backupctl: %s\n",
		    err[0] != '\0' ? err : "cannot load the configuration");
		return -1;
	}
	return 0;
}

/* See ctl.h. */
void
ctl_print_json(json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

/* See ctl.h. */
int
ctl_opt_org(const char *val, const char **org)
{
	if (val[0] == '\0' || strlen(val) > LIM_ORG_MAX)
		return -1;
	*org = val;
	return 0;
}

/* See ctl.h. */
int
ctl_opt_age(const char *val, long long *secs, const char *example)
{
	if (ctl_parse_age(val, secs) == 0)
		return 0;
	fprintf(stderr, "backupctl: --older-than: a number followed by s, m, "
	    "h, d or w (%s)\n", example);
	return -1;
}

/* See ctl.h. */
int
ctl_parse_age(const char *s, long long *secs)
{
	static const struct {
		char unit;
		long long mul;
	} units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400},
		{'w', 604800}};
	char *end;
	long long n;
	size_t i;

	errno = 0;
	if (s[0] < '0' || s[0] > '9')
		return -1;
	n = strtoll(s, &end, 10);
	if (errno != 0 || n <= 0 || n > 100LL * 365 * 86400)
		return -1;
	if (*end == '\0') {
		*secs = n;
		return 0;
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (end[0] == units[i].unit && end[1] == '\0' &&
		    n <= 100LL * 365 * 86400 / units[i].mul) {
			*secs = n * units[i].mul;
			return 0;
		}
	return -1;
}

/* Load the config or print why; -1 on failure. */
static int
load_cfg(const struct ctl *ctl, struct cfg *c)
{
	return ctl_load_cfg(ctl, c);
}

/* The JWT key of config c into *a; prints the reason and returns -1 on
 * failure. */
static int
load_auth(const struct cfg *c, struct auth_ctx **a)
{
	char err[ERRLEN] = "";

	if (auth_init(a, c, err, sizeof(err)) != BD_OK) {
		fprintf(stderr, "backupctl: %s\n", err);
		return -1;
	}
	return 0;
}

/* See ctl.h. optind = 0 makes glibc's getopt start afresh on each
 * command's argv. */
int
ctl_opts(int argc, char **argv, const struct option *opts,
    int (*each)(int, const char *, void *), void *arg)
{
	int ch;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		if (ch == '?' || each(ch, optarg, arg) != 0)
			return -1;
	}
	return 0;
}

static int
parse_opts(int argc, char **argv, const struct option *opts,
    int (*each)(int, const char *, void *), void *arg)
{
	if (ctl_opts(argc, argv, opts, each, arg) != 0)
		return -1;
	return optind == argc ? 0 : -1;
}

struct keygen_opts {
	const char *id, *keyring;
};

static int
keygen_opt(int ch, const char *val, void *arg)
{
	struct keygen_opts *o = arg;

	if (ch == 'i')
		o->id = val;
	else if (ch == 'k')
		o->keyring = val;
	else
		return -1;
	return 0;
}

/* keygen: append a fresh key to the keyring (it becomes the sealing key). */
static int
c_keygen(const struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{"id", required_argument, NULL, 'i'},
		{"keyring", required_argument, NULL, 'k'},
		{NULL, 0, NULL, 0},
	};
	struct keygen_opts o = {NULL, NULL};
	struct cfg c;
	char err[ERRLEN] = "", idbuf[LIM_KEY_ID_MAX + 1];
	int rc = 1, have_cfg = 0;

	memset(&c, 0, sizeof(c));
	if (parse_opts(argc, argv, opts, keygen_opt, &o) != 0) {
		rc = CTL_USAGE;
		bad_usage(argv[0]);
		goto out;
	}
	if (o.keyring == NULL) {
		if (load_cfg(ctl, &c) != 0)
			goto out;
		have_cfg = 1;
		if (c.keyring_file == NULL || c.keyring_file[0] == '\0') {
			fprintf(stderr, "backupctl: keyring_file: not set "
			    "(or pass --keyring FILE)\n");
			goto out;
		}
		o.keyring = c.keyring_file;
	}
	if (o.id == NULL) {
		snprintf(idbuf, sizeof(idbuf), "k%lld", (long long)time(NULL));
		o.id = idbuf;
	}
	if (vault_keygen(o.keyring, o.id, err, sizeof(err)) != BD_OK) {
		fprintf(stderr, "backupctl: %s\n", err);
		goto out;
	}
	if (ctl->json) {
		json_object *j = json_object_new_object();
		json_object_object_add(j, "keyId", json_object_new_string(o.id));
		json_object_object_add(j, "keyring",
		    json_object_new_string(o.keyring));
		ctl_print_json(j);
	} else {
		printf("key %s appended to %s\n", o.id, o.keyring);
	}
	rc = 0;
out:
	if (have_cfg)
		cfg_free(&c);
	return rc;
}

struct token_opts {
	const char *org, *role, *sub;
	long ttl;
};

static int
token_opt(int ch, const char *val, void *arg)
{
	struct token_opts *o = arg;
	char *end;

	switch (ch) {
	case 'o':
		o->org = val;
		break;
	case 'r':
		o->role = val;
		break;
	case 's':
		o->sub = val;
		break;
	case 't':
		errno = 0;
		o->ttl = strtol(val, &end, 10);
		/* A year is plenty for a dev token. */
		if (errno != 0 || end == val || *end != '\0' || o->ttl <= 0 ||
		    o->ttl > 366L * 24 * 3600) {
			fprintf(stderr, "backupctl: --ttl: 1 to 31622400 "
			    "seconds\n");
			return -1;
		}
		break;
	default:
		return -1;
	}
	return 0;
}

/* token: print a JWT minted with the configured HS* key. */
static int
c_token(const struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{"org", required_argument, NULL, 'o'},
		{"role", required_argument, NULL, 'r'},
		{"sub", required_argument, NULL, 's'},
		{"ttl", required_argument, NULL, 't'},
		{NULL, 0, NULL, 0},
	};
	struct token_opts o = {NULL, NULL, "dev-user", 3600};
	struct auth_ctx *a = NULL;
	struct cfg c;
	char *tok = NULL;
	int rc = 1, have_cfg = 0;

	memset(&c, 0, sizeof(c));
	if (parse_opts(argc, argv, opts, token_opt, &o) != 0 || o.org == NULL) {
		rc = CTL_USAGE;
		bad_usage(argv[0]);
		goto out;
	}
	if (load_cfg(ctl, &c) != 0)
		goto out;
	have_cfg = 1;
	if (load_auth(&c, &a) != 0)
		goto out;
	if ((tok = auth_mint(a, o.sub, o.org, o.role, o.ttl,
	    time(NULL))) == NULL) {
		fprintf(stderr, "backupctl: cannot mint a token (jwt_alg must "
		    "be HS256/384/512; --org and --sub 1 to %d/%d bytes)\n",
		    LIM_ORG_MAX, LIM_SUB_MAX);
		goto out;
	}
	if (ctl->json) {
		/* The token is what was asked for; json-c's copy is wiped. */
		json_object *j = json_object_new_object(), *t;
		t = json_object_new_string(tok);
		json_object_object_add(j, "token", t);
		printf("%s\n", json_object_to_json_string_ext(j,
		    JSON_C_TO_STRING_PLAIN));
		sodium_memzero((char *)json_object_get_string(t),
		    strlen(tok));
		json_object_put(j);
	} else {
		printf("%s\n", tok);
	}
	if (fflush(stdout) != 0)
		goto out;
	rc = 0;
out:
	wipe_str_free(tok);
	auth_free(a);
	if (have_cfg)
		cfg_free(&c);
	return rc;
}

/*
 * check-config: the config parses, the keyring loads and the JWT key loads
 * (for HS*, a token minted with it verifies). Names the bad key on failure.
 */
static int
c_check_config(const struct ctl *ctl, int argc, char **argv)
{
	struct auth_ctx *a = NULL;
	struct vault *v = NULL;
	struct principal p;
	struct cfg c;
	char err[ERRLEN] = "", *tok = NULL, hdr[LIM_AUTH_HEADER_MAX + 1];
	const char *why = NULL;
	time_t now = time(NULL);
	int rc = 1, have_cfg = 0;

	memset(&c, 0, sizeof(c));
	hdr[0] = '\0';
	if (argc != 1) {
		rc = CTL_USAGE;
		bad_usage(argv[0]);
		goto out;
	}
	if (cfg_load(&c, ctl->cfg_path, environ, err, sizeof(err)) != BD_OK) {
		/* A *_file secret others may read fails the load itself. */
		fprintf(stderr, "backupctl: %s\n", err[0] != '\0' ? err :
		    "cannot load the configuration");
		if (strstr(err, CFG_UNSAFE_TEXT) != NULL)
			rc = CTL_UNSAFE;
		goto out;
	}
	have_cfg = 1;
	if (cfg_check_files(&c, ctl->cfg_path, err, sizeof(err)) != BD_OK) {
		fprintf(stderr, "backupctl: %s\n", err);
		rc = CTL_UNSAFE;
		goto out;
	}
	if (vault_load(&v, c.keyring_file, err, sizeof(err)) != BD_OK) {
		fprintf(stderr, "backupctl: %s\n", err);
		goto out;
	}
	if (load_auth(&c, &a) != 0)
		goto out;
	if (c.jwt_alg == NULL || strncmp(c.jwt_alg, "HS", 2) == 0) {
		if ((tok = auth_mint(a, "check-config", "check-config", NULL,
		    60, now)) == NULL ||
		    (size_t)snprintf(hdr, sizeof(hdr), "Bearer %s", tok) >=
		    sizeof(hdr) ||
		    auth_verify(a, hdr, now, &p, &why) != BD_OK) {
			fprintf(stderr, "backupctl: jwt_key: a token minted "
			    "with it does not verify (%s)\n",
			    why != NULL ? why : "cannot mint");
			goto out;
		}
	}
	if (ctl->json) {
		json_object *j = json_object_new_object();
		json_object_object_add(j, "ok", json_object_new_boolean(1));
		json_object_object_add(j, "file", ctl->cfg_path != NULL ?
		    json_object_new_string(ctl->cfg_path) : NULL);
		ctl_print_json(j);
	} else {
		printf("config ok\n");
	}
	rc = 0;
out:
	sodium_memzero(hdr, sizeof(hdr));
	wipe_str_free(tok);
	auth_free(a);
	vault_free(v);
	if (have_cfg)
		cfg_free(&c);
	return rc;
}

/* Re-encrypt every destination under the newest key (ctl_db.c). */
static int
c_rekey(const struct ctl *ctl, int argc, char **argv)
{
	struct cfg c;
	json_object *o;
	long done = 0;
	int rc;

	if (argc != 1) {
		bad_usage(argv[0]);
		return CTL_USAGE;
	}
	if (load_cfg(ctl, &c) != 0)
		return CTL_FAIL;
	rc = ctl_rekey(&c, &done);
	cfg_free(&c);
	if (rc == 0 && ctl->json) {
		o = json_object_new_object();
		json_object_object_add(o, "reencrypted",
		    json_object_new_int64(done));
		ctl_print_json(o);
	}
	return rc == 0 ? CTL_OK : CTL_FAIL;
}

/* The SQL directory: given, else $BACKUPD_SQL_DIR, else the installed one
 * when it exists, else "sql" (a checkout). */
static const char *
sql_dir(const char *given)
{
	const char *env = getenv("BACKUPD_SQL_DIR");

	if (given != NULL)
		return given;
	if (env != NULL && env[0] != '\0')
		return env;
	return access(BD_SQL_DIR, F_OK) == 0 ? BD_SQL_DIR : "sql";
}

static int
migrate_opt(int ch, const char *val, void *arg)
{
	(void)val;
	if (ch != 's')
		return -1;
	*(int *)arg = 1;
	return 0;
}

/* migrate [--status] [SQL_DIR] */
static int
c_migrate(const struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{"status", no_argument, NULL, 's'},
		{NULL, 0, NULL, 0},
	};
	json_object *applied = NULL, *o;
	const char *dir;
	struct cfg c;
	int rc, status = 0;

	if (ctl_opts(argc, argv, opts, migrate_opt, &status) != 0 ||
	    argc - optind > 1) {
		bad_usage(argv[0]);
		return CTL_USAGE;
	}
	dir = sql_dir(optind < argc ? argv[optind] : NULL);
	if (load_cfg(ctl, &c) != 0)
		return CTL_FAIL;
	if (status) {
		rc = ctl_migrate_status(ctl, &c, dir);
	} else {
		applied = json_object_new_array();
		rc = ctl_migrate(&c, dir, applied) == 0 ? CTL_OK : CTL_FAIL;
		if (rc == CTL_OK && ctl->json) {
			o = json_object_new_object();
			json_object_object_add(o, "applied",
			    json_object_get(applied));
			ctl_print_json(o);
		}
		json_object_put(applied);
	}
	cfg_free(&c);
	return rc;
}

static int
c_keys_list(const struct ctl *ctl, int argc, char **argv)
{
	struct cfg c;
	int rc;

	if (argc != 1) {
		bad_usage(argv[0]);
		return CTL_USAGE;
	}
	if (load_cfg(ctl, &c) != 0)
		return CTL_FAIL;
	rc = ctl_keys_list(ctl, &c);
	cfg_free(&c);
	return rc;
}

/* The registry's destination types, one per line, in the contract's order
 * (all, or the OAuth ones): what tests and scripts iterate. */
static int
c_types(const struct ctl *ctl, int argc, char **argv)
{
	bool oauth = argc == 2 && strcmp(argv[1], "--oauth") == 0;

	(void)ctl;
	if (argc > 2 || (argc == 2 && !oauth)) {
		bad_usage(argv[0]);
		return CTL_USAGE;
	}
	for (const struct dtype *t = dtype_table; t->name != NULL; t++)
		if (!oauth || t->oauth != OAUTH_NONE)
			printf("%s\n", t->name);
	return fflush(stdout) == 0 ? 0 : 1;
}

struct dest_opts {
	const char *org, *type;
	long limit;
	long long age;
};

static int
dest_opt(int ch, const char *val, void *arg)
{
	struct dest_opts *o = arg;
	char *end;

	switch (ch) {
	case 'o':
		return ctl_opt_org(val, &o->org);
	case 't':
		o->type = val;
		return 0;
	case 'l':
		errno = 0;
		o->limit = strtol(val, &end, 10);
		return errno != 0 || *end != '\0' || o->limit < 1 ||
		    o->limit > AUDIT_LIMIT_MAX ? -1 : 0;
	case 'a':
		return ctl_opt_age(val, &o->age, "90d");
	default:
		return -1;
	}
}

static const struct option dest_longopts[] = {
	{"org", required_argument, NULL, 'o'},
	{"type", required_argument, NULL, 't'},
	{"limit", required_argument, NULL, 'l'},
	{"older-than", required_argument, NULL, 'a'},
	{NULL, 0, NULL, 0},
};

/* destinations list|show|test */
static int
c_dest(const struct ctl *ctl, int argc, char **argv)
{
	struct dest_opts o = {NULL, NULL, 0, 0};
	int list = strcmp(argv[0], "list") == 0, rc;
	const char *id = NULL;
	struct cfg c;

	if (ctl_opts(argc, argv, dest_longopts, dest_opt, &o) != 0 ||
	    o.org == NULL || o.limit != 0 || o.age != 0 ||
	    (list ? optind != argc || (o.type != NULL &&
	    o.type[0] == '\0') : o.type != NULL || optind + 1 != argc)) {
		bad_usage(argv[0]);
		return CTL_USAGE;
	}
	if (!list) {
		id = argv[optind];
		if (!uuid_valid(id)) {
			fprintf(stderr, "backupctl: '%s' is not a destination "
			    "id\n", id);
			bad_usage(argv[0]);
			return CTL_USAGE;
		}
	}
	if (load_cfg(ctl, &c) != 0)
		return CTL_FAIL;
	rc = list ? ctl_dest_list(ctl, &c, o.org, o.type) :
	    ctl_dest_show(ctl, &c, o.org, id, strcmp(argv[0], "test") == 0);
	cfg_free(&c);
	return rc;
}

/* audit list|prune */
static int
c_audit(const struct ctl *ctl, int argc, char **argv)
{
	int list = strcmp(argv[0], "list") == 0, rc;
	struct dest_opts o = {NULL, NULL, list ? 50 : 0, 0};
	struct cfg c;

	if (ctl_opts(argc, argv, dest_longopts, dest_opt, &o) != 0 ||
	    optind != argc || o.type != NULL || (list ? o.age != 0 :
	    o.age == 0 || o.org != NULL || o.limit != 0)) {
		bad_usage(argv[0]);
		return CTL_USAGE;
	}
	if (load_cfg(ctl, &c) != 0)
		return CTL_FAIL;
	rc = list ? ctl_audit_list(ctl, &c, o.org, o.limit) :
	    ctl_audit_prune(ctl, &c, o.age);
	cfg_free(&c);
	return rc;
}

/* config show: every key's effective value, secrets as ********. */
static int
c_config_show(const struct ctl *ctl, int argc, char **argv)
{
	struct cfg_key_info ki;
	struct cfg c;
	json_object *o, *keys;
	char buf[4096];
	size_t i;

	if (argc != 1) {
		bad_usage(argv[0]);
		return CTL_USAGE;
	}
	if (load_cfg(ctl, &c) != 0)
		return CTL_FAIL;
	keys = json_object_new_object();
	for (i = 0; i < cfg_key_count(); i++) {
		cfg_key_info(i, &ki);
		cfg_key_value(&c, i, buf, sizeof(buf));
		if (ctl->json)
			json_object_object_add(keys, ki.name, ki.is_int ?
			    json_object_new_int64(strtoll(buf, NULL, 10)) :
			    buf[0] == '\0' ? NULL : json_object_new_string(buf));
		else
			printf("%s = %s\n", ki.name, buf);
	}
	if (ctl->json) {
		o = json_object_new_object();
		json_object_object_add(o, "file", ctl->cfg_path != NULL ?
		    json_object_new_string(ctl->cfg_path) : NULL);
		json_object_object_add(o, "keys", keys);
		ctl_print_json(o);
	} else {
		json_object_put(keys);
		printf("# file: %s\n", ctl->cfg_path != NULL ? ctl->cfg_path :
		    "(none: defaults and environment)");
	}
	cfg_free(&c);
	return CTL_OK;
}

/* Text for man(7): a backslash doubled, a leading dot or quote escaped. */
static void
man_text(const char *s)
{
	if (*s == '.' || *s == '\'')
		fputs("\\&", stdout);
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			fputs("\\e", stdout);
		else if (*s == '-')
			fputs("\\-", stdout);
		else
			putchar(*s);
	}
}

/* Print s wrapped at 72 columns, each line prefixed. */
static void
wrap(const char *prefix, const char *s)
{
	size_t col = 0, w;

	while (*s != '\0') {
		while (*s == ' ')
			s++;
		w = strcspn(s, " ");
		if (w == 0)
			break;
		if (col > 0 && col + 1 + w > 72) {
			putchar('\n');
			col = 0;
		}
		if (col == 0) {
			fputs(prefix, stdout);
			col = strlen(prefix);
		} else {
			putchar(' ');
			col++;
		}
		fwrite(s, 1, w, stdout);
		col += w;
		s += w;
	}
	if (col > 0)
		putchar('\n');
}

static void
key_default(const struct cfg_key_info *ki, char *buf, size_t len)
{
	if (ki->is_int)
		snprintf(buf, len, "%ld", ki->dnum);
	else
		snprintf(buf, len, "%s", ki->dstr != NULL ? ki->dstr : "");
}

static int
format_opt(int ch, const char *val, void *arg)
{
	if (ch != 'f' || (strcmp(val, "text") != 0 && strcmp(val, "conf") != 0
	    && strcmp(val, "man") != 0))
		return -1;
	*(const char **)arg = val;
	return 0;
}

static const struct option format_longopts[] = {
	{"format", required_argument, NULL, 'f'},
	{NULL, 0, NULL, 0},
};

/* config keys [--format text|conf|man]: from cfg.c's key table. */
static int
c_config_keys(const struct ctl *ctl, int argc, char **argv)
{
	struct cfg_key_info ki;
	const char *fmt = "text", *doc;
	json_object *arr = json_object_new_array(), *o;
	char def[256], line[512];
	size_t i;
	int missing = 0;

	if (parse_opts(argc, argv, format_longopts, format_opt, &fmt) != 0) {
		json_object_put(arr);
		bad_usage(argv[0]);
		return CTL_USAGE;
	}
	if (strcmp(fmt, "conf") == 0)
		printf("# backupd.conf: `key = value` lines; `#` starts a "
		    "comment line.\n# Every key is shown with its default "
		    "(commented). Each can be\n# overridden by the environment "
		    "variable BACKUPD_<KEY IN UPPER CASE>;\n# a secret can be "
		    "read from a file named by <key>_file (mode 0640\n# "
		    "root:backupd or 0600). Generated by `backupctl config keys "
		    "--format conf`;\n# see backupd.conf(5).\n");
	for (i = 0; i < cfg_key_count(); i++) {
		cfg_key_info(i, &ki);
		key_default(&ki, def, sizeof(def));
		if ((doc = ctl_key_doc(ki.name)) == NULL) {
			fprintf(stderr, "backupctl: key '%s' has no "
			    "documentation in cgi/ctl_keydoc.c\n", ki.name);
			missing++;
			doc = "";
		}
		if (ctl->json) {
			o = json_object_new_object();
			json_object_object_add(o, "name",
			    json_object_new_string(ki.name));
			json_object_object_add(o, "type", json_object_new_string(
			    ki.is_int ? "integer" : "string"));
			json_object_object_add(o, "default", ki.is_int ?
			    json_object_new_int64(ki.dnum) : ki.dstr != NULL ?
			    json_object_new_string(ki.dstr) : NULL);
			if (ki.is_int) {
				json_object_object_add(o, "min",
				    json_object_new_int64(ki.min));
				json_object_object_add(o, "max",
				    json_object_new_int64(ki.max));
			}
			json_object_object_add(o, "secret",
			    json_object_new_boolean(ki.secret));
			json_object_object_add(o, "doc",
			    json_object_new_string(doc));
			json_object_array_add(arr, o);
		} else if (strcmp(fmt, "conf") == 0) {
			printf("\n");
			wrap("# ", doc);
			if (ki.is_int)
				printf("# (an integer, %ld to %ld)\n", ki.min,
				    ki.max);
			printf("#%s = %s\n", ki.name, def);
			if (ki.secret)
				printf("#%s_file = \n", ki.name);
		} else if (strcmp(fmt, "man") == 0) {
			printf(".TP\n.B %s\n", ki.name);
			man_text(doc);
			if (ki.is_int)
				printf("\nAn integer from %ld to %ld; default "
				    "%ld.", ki.min, ki.max, ki.dnum);
			else if (ki.dstr != NULL) {
				printf("\nDefault: ");
				man_text(ki.dstr);
				printf(".");
			} else
				printf("\nUnset by default.");
			if (ki.secret)
				printf(" A secret: never printed; it can be "
				    "read from the file named by \\fB%s_file"
				    "\\fP.", ki.name);
			printf("\n");
		} else {
			snprintf(line, sizeof(line), "%s%s", ki.name,
			    ki.secret ? " (secret)" : "");
			printf("%-32s %s\n", line, def[0] != '\0' ? def :
			    "(unset)");
			wrap("    ", doc);
		}
	}
	if (ctl->json) {
		o = json_object_new_object();
		json_object_object_add(o, "keys", arr);
		ctl_print_json(o);
	} else {
		json_object_put(arr);
	}
	return missing ? CTL_FAIL : CTL_OK;
}

/* help [COMMAND...] [--format text|man] */
static int
c_help(const struct ctl *ctl, int argc, char **argv)
{
	const char *fmt = "text";
	char name[128];
	size_t i;
	int n;

	if (ctl_opts(argc, argv, format_longopts, format_opt, &fmt) != 0) {
		bad_usage(argv[0]);
		return CTL_USAGE;
	}
	if (strcmp(fmt, "man") == 0) {
		for (i = 0; i < NCMDS; i++) {
			printf(".TP\n.B %s", cmds[i].name);
			if (cmds[i].args[0] != '\0') {
				printf(" ");
				man_text(cmds[i].args);
			}
			printf("\n");
			man_text(cmds[i].summary);
			if (cmds[i].help != NULL) {
				printf("\n");
				man_text(cmds[i].help);
			}
			printf("\n");
		}
		return CTL_OK;
	}
	if (optind == argc) {
		usage(stdout);
		return CTL_OK;
	}
	name[0] = '\0';
	for (n = optind; n < argc; n++)
		snprintf(name + strlen(name), sizeof(name) - strlen(name),
		    "%s%s", n > optind ? " " : "", argv[n]);
	for (i = 0; i < NCMDS; i++)
		if (strcmp(cmds[i].name, name) == 0) {
			cmd_help(&cmds[i]);
			return CTL_OK;
		}
	fprintf(stderr, "backupctl: unknown command '%s'\n", name);
	return CTL_USAGE;
}

/* completion bash: generated from the command table. */
static int
c_completion(const struct ctl *ctl, int argc, char **argv)
{
	size_t i, j;

	if (argc != 2 || strcmp(argv[1], "bash") != 0) {
		bad_usage(argv[0]);
		return CTL_USAGE;
	}
	printf("# bash completion for backupctl; generated by `backupctl "
	    "completion bash`.\n_backupctl()\n{\n"
	    "\tlocal cur=${COMP_WORDS[COMP_CWORD]} i w1= w2= n=0\n"
	    "\tfor ((i = 1; i < COMP_CWORD; i++)); do\n"
	    "\t\tcase ${COMP_WORDS[i]} in\n"
	    "\t\t-c) ((i++)) ;;\n\t\t-*) ;;\n"
	    "\t\t*) if ((n == 0)); then w1=${COMP_WORDS[i]}; "
	    "elif ((n == 1)); then w2=${COMP_WORDS[i]}; fi; ((n++)) ;;\n"
	    "\t\tesac\n\tdone\n"
	    "\tif [[ ${COMP_WORDS[COMP_CWORD-1]} == -c ]]; then\n"
	    "\t\tCOMPREPLY=($(compgen -f -- \"$cur\")); return\n\tfi\n"
	    "\tcase \"$n:$w1\" in\n\t0:)\n\t\tCOMPREPLY=($(compgen -W '");
	/* The first words, once each. */
	for (i = 0; i < NCMDS; i++) {
		size_t w = strcspn(cmds[i].name, " ");
		int seen = 0;
		for (j = 0; j < i; j++)
			seen |= strncmp(cmds[j].name, cmds[i].name, w) == 0 &&
			    (cmds[j].name[w] == ' ' || cmds[j].name[w] == '\0');
		if (!seen)
			printf("%.*s ", (int)w, cmds[i].name);
	}
	printf("-c --json --help --version' -- \"$cur\")) ;;\n");
	/* Second words of two-word commands. */
	for (i = 0; i < NCMDS; i++) {
		size_t w = strcspn(cmds[i].name, " ");
		int seen = 0;
		if (cmds[i].name[w] != ' ')
			continue;
		for (j = 0; j < i; j++)
			seen |= strncmp(cmds[j].name, cmds[i].name, w + 1) == 0;
		if (seen)
			continue;
		printf("\t1:%.*s)\n\t\tCOMPREPLY=($(compgen -W '", (int)w,
		    cmds[i].name);
		for (j = i; j < NCMDS; j++)
			if (strncmp(cmds[j].name, cmds[i].name, w + 1) == 0)
				printf("%s ", cmds[j].name + w + 1);
		printf("' -- \"$cur\")) ;;\n");
	}
	printf("\t*)\n\t\tcase \"$w1 $w2\" in\n");
	for (i = 0; i < NCMDS; i++) {
		size_t w = strcspn(cmds[i].name, " ");
		if (cmds[i].name[w] == ' ')
			printf("\t\t\"%s\")", cmds[i].name);
		else
			printf("\t\t\"%s \"*)", cmds[i].name);
		printf(" COMPREPLY=($(compgen -W '%s --json --help' -- "
		    "\"$cur\")) ;;\n", cmds[i].words);
	}
	printf("\t\tesac ;;\n\tesac\n}\ncomplete -F _backupctl backupctl\n");
	(void)ctl;
	return CTL_OK;
}

/* The command named by argv[0] (and argv[1] for two-word names); *used
 * is the number of words it took. NULL when none matches. */
static const struct cmd *
find_cmd(int argc, char **argv, int *used)
{
	size_t i, w;

	for (i = 0; i < NCMDS; i++) {
		w = strcspn(cmds[i].name, " ");
		if (strncmp(cmds[i].name, argv[0], w) != 0 ||
		    argv[0][w] != '\0')
			continue;
		if (cmds[i].name[w] == '\0') {
			*used = 1;
			return &cmds[i];
		}
		if (argc > 1 && strcmp(cmds[i].name + w + 1, argv[1]) == 0) {
			*used = 2;
			return &cmds[i];
		}
	}
	return NULL;
}

/* status: the pool's status page over its own socket (ctl_status.c). */
static int
c_status(const struct ctl *ctl, int argc, char **argv)
{
	struct cfg c;
	int rc;

	if (ctl_load_cfg(ctl, &c) != 0)
		return CTL_FAIL;
	rc = ctl_status(&c, ctl->json != 0, argc, argv);
	cfg_free(&c);
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct rlimit nocore = {0, 0};
	const struct cmd *cmd;
	struct ctl ctl = {NULL, 0};
	const char *given = NULL;
	int i, j, used = 0, help = 0, rc;

	/* Keys and plaintext live in this process: never write them to disk. */
	if (setrlimit(RLIMIT_CORE, &nocore) != 0) {
		fprintf(stderr, "backupctl: cannot disable core dumps\n");
		return CTL_FAIL;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "backupctl: libsodium failed to initialise\n");
		return CTL_FAIL;
	}
	/* --json and --help anywhere before "--"; -c FILE before the command. */
	for (i = j = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			while (i < argc)
				argv[j++] = argv[i++];
			break;
		}
		if (strcmp(argv[i], "--json") == 0)
			ctl.json = 1;
		else if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0)
			help = 1;
		else
			argv[j++] = argv[i];
	}
	argc = j;
	argv[argc] = NULL;
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--version") == 0) {
			printf("backupctl %s\n", BD_VERSION);
			return CTL_OK;
		}
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			given = argv[++i];
			continue;
		}
		if (strncmp(argv[i], "-c", 2) == 0 && argv[i][2] != '\0') {
			given = argv[i] + 2;
			continue;
		}
		usage(stderr);
		return CTL_USAGE;
	}
	if (i >= argc) {
		usage(help ? stdout : stderr);
		return help ? CTL_OK : CTL_USAGE;
	}
	if ((cmd = find_cmd(argc - i, argv + i, &used)) == NULL) {
		/* A group's first word alone: its commands. */
		size_t k, w;
		int n = 0;
		for (k = 0; k < NCMDS; k++) {
			w = strcspn(cmds[k].name, " ");
			if (cmds[k].name[w] == ' ' &&
			    strncmp(cmds[k].name, argv[i], w) == 0 &&
			    argv[i][w] == '\0') {
				cmd_usage(help ? stdout : stderr, &cmds[k]);
				n++;
			}
		}
		if (n == 0) {
			fprintf(stderr, "backupctl: unknown command '%s'\n",
			    argv[i]);
			usage(stderr);
		}
		return n > 0 && help ? CTL_OK : CTL_USAGE;
	}
	if (help) {
		cmd_help(cmd);
		return CTL_OK;
	}
	ctl.cfg_path = cfg_pick_path(given);
	rc = cmd->fn(&ctl, argc - i - used + 1, argv + i + used - 1);
	if (fflush(stdout) != 0)
		rc = CTL_FAIL;
	return rc;
}
