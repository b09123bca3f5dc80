-- 002: the destinations this service owns (see .dev/SCHEMA.md).
-- Times are UTC DATETIME(3), written by the service with UTC_TIMESTAMP(3).
CREATE TABLE IF NOT EXISTS backup_destinations (
  id CHAR(36) CHARACTER SET ascii NOT NULL PRIMARY KEY,
  org_id VARCHAR(128) NOT NULL,
  name VARCHAR(128) NOT NULL,
  destination_type VARCHAR(32) CHARACTER SET ascii NOT NULL,
  config_ciphertext MEDIUMBLOB NOT NULL,
  key_id VARCHAR(32) CHARACTER SET ascii NOT NULL,
  status VARCHAR(32) CHARACTER SET ascii NOT NULL,          -- active | pending_authorization | error
  last_test_at DATETIME(3) NULL,
  last_test_ok TINYINT(1) NULL,
  last_test_json TEXT NULL,                                 -- the TestResult JSON (no secrets)
  oauth_connected_at DATETIME(3) NULL,
  oauth_token_expires_at DATETIME(3) NULL,
  version INT UNSIGNED NOT NULL DEFAULT 1,                  -- ETag / optimistic locking
  created_at DATETIME(3) NOT NULL,
  updated_at DATETIME(3) NOT NULL,
  UNIQUE KEY uq_backup_destinations_org_name (org_id, name),
  KEY ix_backup_destinations_org_created (org_id, created_at, id),
  KEY ix_backup_destinations_key (key_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
