/*
 * backupctl: operator tool next to backupd (DESIGN.md "Layout", "Secrets").
 *
 *   backupctl [-c FILE] <command> [options]
 *
 * The config comes from -c FILE, else $BACKUPD_CONFIG, overridden key by key
 * by BACKUPD_* variables (cfg_load). Exit status: 0 done, 1 failed, 2 usage.
 * Secrets (keys, tokens other than the one `token` is asked to print) never
 * reach stdout or stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>

#include <sodium.h>

#include "auth.h"
#include "cfg.h"
#include "ctl.h"
#include "err.h"
#include "bd_limits.h"
#include "dtype.h"
#include "vault.h"
#include "wipe.h"

extern char **environ;

#define EXIT_USAGE 2
#define ERRLEN 512

struct ctl {
	const char *cfg_path; /* -c, else $BACKUPD_CONFIG, else NULL */
};

struct cmd {
	const char *name;
	int (*fn)(const struct ctl *, int, char **);
	const char *usage;
};

static int c_keygen(const struct ctl *, int, char **);
static int c_token(const struct ctl *, int, char **);
static int c_check_config(const struct ctl *, int, char **);
static int c_rekey(const struct ctl *, int, char **);
static int c_migrate(const struct ctl *, int, char **);
static int c_types(const struct ctl *, int, char **);

static const struct cmd cmds[] = {
	{"keygen", c_keygen, "keygen [--id ID] [--keyring FILE]"},
	{"token", c_token,
	    "token --org ORG [--role ROLE] [--sub SUB] [--ttl SECONDS]"},
	{"check-config", c_check_config, "check-config"},
	{"rekey", c_rekey, "rekey"},
	{"migrate", c_migrate, "migrate [SQL_DIR]"},
	{"types", c_types, "types [--oauth]"},
};
#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: backupctl [-c FILE] <command> [options]\n"
	    "  FILE defaults to $BACKUPD_CONFIG; BACKUPD_<KEY> variables "
	    "override it.\ncommands:\n");
	for (i = 0; i < NCMDS; i++)
		fprintf(f, "  %s\n", cmds[i].usage);
}

/* Usage line of one command, on stderr. */
static void
bad_usage(const char *name)
{
	size_t i;

	for (i = 0; i < NCMDS; i++)
		if (strcmp(cmds[i].name, name) == 0)
			fprintf(stderr, "usage: backupctl %s\n", cmds[i].usage);
}

/* Load the config into *c; prints the reason and returns -1 on failure. */
static int
load_cfg(const struct ctl *ctl, struct cfg *c)
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

/* optind = 0 makes glibc's getopt start afresh on each command's argv. */
static int
parse_opts(int argc, char **argv, const struct option *opts,
    int (*each)(int, const char *, void *), void *arg)
{
	int ch;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (ch == 'h' || ch == '?' || each(ch, optarg, arg) != 0)
			return -1;
	}
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
		rc = EXIT_USAGE;
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
	printf("key %s appended to %s\n", o.id, o.keyring);
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
		rc = EXIT_USAGE;
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
	printf("%s\n", tok);
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
		rc = EXIT_USAGE;
		bad_usage(argv[0]);
		goto out;
	}
	if (load_cfg(ctl, &c) != 0)
		goto out;
	have_cfg = 1;
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
	printf("config ok\n");
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
	int rc;

	if (argc != 1) {
		bad_usage(argv[0]);
		return EXIT_USAGE;
	}
	if (load_cfg(ctl, &c) != 0)
		return 1;
	rc = ctl_rekey(&c);
	cfg_free(&c);
	return rc;
}

/* Apply pending migrations from SQL_DIR (default: $BACKUPD_SQL_DIR or
 * "sql"). */
static int
c_migrate(const struct ctl *ctl, int argc, char **argv)
{
	const char *dir = getenv("BACKUPD_SQL_DIR");
	struct cfg c;
	int rc;

	if (argc > 2) {
		bad_usage(argv[0]);
		return EXIT_USAGE;
	}
	if (argc == 2)
		dir = argv[1];
	if (load_cfg(ctl, &c) != 0)
		return 1;
	rc = ctl_migrate(&c, dir != NULL && *dir != '\0' ? dir : "sql");
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
		return EXIT_USAGE;
	}
	for (const struct dtype *t = dtype_table; t->name != NULL; t++)
		if (!oauth || t->oauth != OAUTH_NONE)
			printf("%s\n", t->name);
	return fflush(stdout) == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	static const struct rlimit nocore = {0, 0};
	struct ctl ctl;
	const char *name;
	size_t i;
	int ch;

	/* Keys and plaintext live in this process: never write them to disk. */
	if (setrlimit(RLIMIT_CORE, &nocore) != 0) {
		fprintf(stderr, "backupctl: cannot disable core dumps\n");
		return 1;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "backupctl: libsodium failed to initialise\n");
		return 1;
	}

	ctl.cfg_path = getenv("BACKUPD_CONFIG");
	if (ctl.cfg_path != NULL && ctl.cfg_path[0] == '\0')
		ctl.cfg_path = NULL;
	while ((ch = getopt(argc, argv, "+c:h")) != -1) {
		switch (ch) {
		case 'c':
			ctl.cfg_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	name = argv[optind];
	for (i = 0; i < NCMDS; i++)
		if (strcmp(cmds[i].name, name) == 0)
			return cmds[i].fn(&ctl, argc - optind, argv + optind);
	fprintf(stderr, "backupctl: unknown command '%s'\n", name);
	usage(stderr);
	return EXIT_USAGE;
}
