#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bd_limits.h"
#include "rekey.h"
#include "store.h"

/* One batch under the lock: re-seal and write each row. *n rows. */
static enum bd_err
batch(struct db *db, const struct vault *v, const char *cur,
    struct rekey_report *rep, size_t *n)
{
	struct dbres r;
	enum bd_err rc;

	*n = 0;
	rep->stop = REKEY_DB;
	if ((rc = store_rekey_pick(db, cur, LIM_REKEY_BATCH, &r)) != BD_OK)
		return rc;
	for (size_t i = 0; i < r.nrows; i++) {
		struct rekey_row row, w;
		unsigned char *blob = NULL;

		store_rekey_from_row(&r, i, &row);
		w = row;
		rc = vault_reseal(v, row.org, row.id, row.blob, row.bloblen,
		    &blob, &w.bloblen);
		w.blob = blob;
		if (rc == BD_OK)
			rc = store_rekey_write(db, &w, cur);
		free(blob);
		if (rc != BD_OK) {
			rep->stop = rc == BD_ERR_CRYPTO ? REKEY_DECRYPT :
			    REKEY_SEAL;
			snprintf(rep->failed_id, sizeof(rep->failed_id), "%s",
			    row.id);
			break;
		}
	}
	*n = r.nrows;
	dbres_free(&r);
	if (rc == BD_OK)
		rep->stop = REKEY_DONE;
	return rc;
}

enum bd_err
rekey_all(struct db *db, const struct vault *v, void (*progress)(size_t),
    struct rekey_report *rep)
{
	const char *cur = vault_current_key_id(v);
	enum bd_err rc;
	size_t n;

	memset(rep, 0, sizeof(*rep));
	do {
		/* A batch that lost a lock conflict (deadlock, Galera's
		 * certification: the service wrote one of its rows meanwhile)
		 * runs again from BEGIN, a bounded number of times. */
		for (unsigned attempt = 1;; attempt++) {
			bool again;

			if ((rc = db_begin(db)) != BD_OK) {
				rep->stop = REKEY_DB;
				return rc;
			}
			if ((rc = batch(db, v, cur, rep, &n)) != BD_OK) {
				again = rc == BD_ERR_DB_DOWN && db_retryable(db);
				db_rollback(db);
			} else if ((rc = db_commit(db)) != BD_OK) {
				again = rc == BD_ERR_DB_DOWN && db_retryable(db);
				rep->stop = REKEY_DB;
			} else {
				break;
			}
			if (!again || attempt >= LIM_DB_TX_ATTEMPTS)
				return rc;
			db_backoff(attempt);
		}
		rep->done += n;
		if (n == LIM_REKEY_BATCH && progress != NULL)
			progress(rep->done);
	} while (n == LIM_REKEY_BATCH);
	return BD_OK;
}
