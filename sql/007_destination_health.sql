-- 007: why a destination is in its status, and how its tests went
-- (issue 9; see .dev/SCHEMA.md). Only adds: the running version keeps
-- working on the new schema (MariaDB and MySQL 8 syntax). Existing rows get
-- the values their status and last test imply.
ALTER TABLE backup_destinations
  ADD COLUMN status_reason VARCHAR(32) CHARACTER SET ascii NULL AFTER status,
  ADD COLUMN last_success_at DATETIME(3) NULL AFTER last_test_json,
  ADD COLUMN consecutive_failures INT UNSIGNED NOT NULL DEFAULT 0 AFTER last_success_at,
  ADD INDEX ix_backup_destinations_last_test (last_test_at);

UPDATE backup_destinations SET
  status_reason = CASE
    WHEN status = 'error' THEN 'test_failed'
    WHEN status = 'pending_authorization' AND oauth_connected_at IS NULL THEN 'not_authorized'
    WHEN status = 'pending_authorization' THEN 'reauthorization_required'
    ELSE NULL END,
  last_success_at = IF(last_test_ok = 1, last_test_at, NULL),
  consecutive_failures = IF(last_test_ok = 0, 1, 0)
WHERE status_reason IS NULL AND last_success_at IS NULL;
