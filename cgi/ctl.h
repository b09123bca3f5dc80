/*
 * backupctl's shared pieces (backupctl.c: the command table, dispatch and
 * the config/key commands; ctl_db.c: rekey, migrate and migrate --status,
 * the only SQL text of cgi/; ctl_ops.c: the database-reading operator
 * commands, through the store; ctl_keydoc.c: the config keys' docs). Every command returns a process exit status: CTL_OK,
 * CTL_FAIL (reason on stderr), CTL_USAGE, CTL_TEST_FAILED (a connection
 * test ran and failed), CTL_UNSAFE (a secret file is readable by others).
 */
#ifndef BD_CTL_H
#define BD_CTL_H

#include <getopt.h>

#include <json-c/json.h>
#include <stdbool.h>

#include "cfg.h"

#define CTL_OK 0
#define CTL_FAIL 1
#define CTL_USAGE 2
#define CTL_TEST_FAILED 3
#define CTL_UNSAFE 4

struct ctl {
	const char *cfg_path; /* -c, else $BACKUPD_CONFIG, else the default */
	int json;             /* --json: one JSON document on stdout */
};

/* Load the config into *c; prints the reason and returns -1 on failure. */
int ctl_load_cfg(const struct ctl *ctl, struct cfg *c);

/* Load the config's keyring into *v; prints the reason and returns -1 on
 * failure. */
struct vault;
int ctl_load_keyring(const struct cfg *c, struct vault **v);

/* getopt_long over a command's argv (argv[0] the command's last word);
 * each() handles one option. 0, or -1 on a bad or unknown option. Leaves
 * optind at the first operand. */
int ctl_opts(int argc, char **argv, const struct option *opts,
    int (*each)(int, const char *, void *), void *arg);

/* Print o as one JSON document on stdout and release it. */
void ctl_print_json(json_object *o);

/* "90d", "12h", "30m", "45s" or plain seconds into *secs; -1 when bad. */
int ctl_parse_age(const char *s, long long *secs);

/* Option handlers' shared checks. --org: non-empty, at most LIM_ORG_MAX
 * bytes, into *org. --older-than: ctl_parse_age, else a message on stderr
 * naming example ("90d"). 0, or -1 when bad. */
int ctl_opt_org(const char *val, const char **org);
int ctl_opt_age(const char *val, long long *secs, const char *example);

/* Re-encrypt every destination under the keyring's newest key, in
 * transactions of LIM_REKEY_BATCH rows locked FOR UPDATE, so it is safe
 * while the service runs. Counts into *done. */
int ctl_rekey(const struct cfg *c, long *done);

/* Apply sql_dir/NNN_name.sql files not yet in schema_migrations, in order,
 * under a GET_LOCK so concurrent runs serialise (as scripts/migrate.sh).
 * The names applied are appended to `applied` (a JSON array) when given. */
int ctl_migrate(const struct cfg *c, const char *sql_dir,
    json_object *applied);

/* The migration files NNN_name.sql of sql_dir, sorted (scandir(3): the
 * caller frees each entry and the array); -1 with errno on failure. */
struct dirent;
int ctl_sql_files(const char *sql_dir, struct dirent ***files);

/* migrate --status: every migration file and when it was applied; exit 1
 * while one is pending. */
int ctl_migrate_status(const struct ctl *, const struct cfg *,
    const char *sql_dir);

/* ctl_ops.c: the operator commands reading the database. */
int ctl_keys_list(const struct ctl *, const struct cfg *);
int ctl_audit_list(const struct ctl *, const struct cfg *, const char *org,
    long limit);
int ctl_audit_prune(const struct ctl *, const struct cfg *,
    long long older_than_secs);
int ctl_dest_list(const struct ctl *, const struct cfg *, const char *org,
    const char *type);
int ctl_dest_show(const struct ctl *, const struct cfg *, const char *org,
    const char *id, int test);

/* ctl_health.c: backupctl test-all (its argv, as a command-table row's
 * function). */
int ctl_cmd_test_all(const struct ctl *, int, char **);

/* ctl_keydoc.c: one sentence per config key (NULL when undocumented). */
const char *ctl_key_doc(const char *name);

/* backupctl [--json] status [--openmetrics]: the pool's status page read
 * over FastCGI from `listen` (ctl_status.c); argv[0] is "status". */
int ctl_status(const struct cfg *c, bool json, int argc, char **argv);

#endif
