/* backupctl's database commands (ctl_db.c). Both print progress on stderr
 * and return a process exit status (0 done, 1 failed). */
#ifndef BD_CTL_H
#define BD_CTL_H

#include "cfg.h"

/* Re-encrypt every destination under the keyring's newest key, in
 * transactions of LIM_REKEY_BATCH rows locked FOR UPDATE, so it is safe
 * while the service runs. */
int ctl_rekey(const struct cfg *c);

/* Apply sql_dir/NNN_name.sql files not yet in schema_migrations, in order,
 * under a GET_LOCK so concurrent runs serialise (as scripts/migrate.sh). */
int ctl_migrate(const struct cfg *c, const char *sql_dir);

#endif
