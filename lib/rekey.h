/*
 * Re-encryption of every destination's config under the keyring's current
 * key (backupctl rekey), across orgs on purpose: transactions of
 * LIM_REKEY_BATCH rows locked FOR UPDATE, so it is safe while the service
 * runs; the plaintext never leaves the vault (vault_reseal). A row that
 * fails stops the run with its batch rolled back; the batches before stay
 * committed.
 *
 * Ownership: db and vault are borrowed; nothing is handed out.
 */
#ifndef BD_REKEY_H
#define BD_REKEY_H

#include <stddef.h>

#include "db.h"
#include "err.h"
#include "uuid.h"
#include "vault.h"

enum rekey_stop {
	REKEY_DONE,      /* every row uses the current key */
	REKEY_DB,        /* a statement or the commit failed */
	REKEY_DECRYPT,   /* failed_id does not open with this keyring */
	REKEY_SEAL       /* failed_id could not be re-sealed or written */
};

struct rekey_report {
	size_t done;                           /* rows committed */
	enum rekey_stop stop;
	char failed_id[UUID_STR_LEN + 1];      /* "" unless DECRYPT/SEAL */
};

/* Run it to the end or the first failure (BD_OK only for REKEY_DONE).
 * progress, when given, is called after each full batch committed. */
enum bd_err rekey_all(struct db *, const struct vault *,
    void (*progress)(size_t done), struct rekey_report *);

#endif
