-- 003: backup_schedules is owned by the scheduler; this service only reads it
-- (and nulls destination_id of inactive schedules on delete). Created here only
-- if it does not exist yet, with the columns this service relies on.
CREATE TABLE IF NOT EXISTS backup_schedules (
  id CHAR(36) CHARACTER SET ascii NOT NULL PRIMARY KEY,
  org_id VARCHAR(128) NOT NULL,
  destination_id CHAR(36) CHARACTER SET ascii NULL,
  name VARCHAR(255) NOT NULL DEFAULT '',
  active TINYINT(1) NOT NULL DEFAULT 1,
  KEY ix_backup_schedules_destination (destination_id, active)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
