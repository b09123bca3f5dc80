-- 006: org ids compare byte for byte (issue 13). Every org_id column this
-- service owns was a PAD SPACE collation (utf8mb4_bin ignores trailing
-- spaces; audit_log and oauth_states even used utf8mb4_general_ci, which also
-- folds case), so a token for org "acme " reached org "acme"'s rows.
-- utf8mb4_nopad_bin compares the bytes, trailing spaces included.
--
-- Safe on existing data: the new collation only makes fewer values equal, so
-- the unique key (org_id, name) of backup_destinations stays valid (two rows
-- that were distinct under PAD SPACE are distinct under NO PAD), and no value
-- changes. `name` keeps utf8mb4_bin (names are unique per org, case-sensitive,
-- as before).
--
-- backup_schedules is owned by the scheduler (another service) and is not
-- altered here: the statements of this service that filter it by org compare
-- with an explicit COLLATE utf8mb4_nopad_bin (lib/db.c), and the schedule
-- count joins it to backup_destinations.org_id, whose _bin collation wins
-- over the schedule table's _ci one.
--
-- oauth_states also gets the hash of the browser-binding cookie
-- (backupd_oauth, set by POST /{id}/oauth): NULL for states made before it.
ALTER TABLE backup_destinations
  MODIFY org_id VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL;
ALTER TABLE audit_log
  MODIFY org_id VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL;
ALTER TABLE oauth_states
  MODIFY org_id VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
  ADD COLUMN IF NOT EXISTS browser_sha256 BINARY(32) NULL AFTER verifier_ciphertext,
  ADD KEY IF NOT EXISTS ix_oauth_states_org_dest (org_id, destination_id, used_at, expires_at);
