-- 005: one row per mutation / test / OAuth step. Never a secret.
CREATE TABLE IF NOT EXISTS audit_log (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  at DATETIME(3) NOT NULL,
  org_id VARCHAR(128) NOT NULL,
  actor VARCHAR(255) NOT NULL,
  action VARCHAR(64) CHARACTER SET ascii NOT NULL,    -- destination.create|update|delete|test, oauth.start|oauth.callback
  destination_id CHAR(36) CHARACTER SET ascii NULL,
  request_id VARCHAR(64) CHARACTER SET ascii NOT NULL,
  remote_addr VARCHAR(64) CHARACTER SET ascii NULL,
  outcome VARCHAR(32) CHARACTER SET ascii NOT NULL,   -- success | failure | denied | conflict
  detail VARCHAR(255) NULL,                           -- never a secret
  KEY ix_audit_log_org_at (org_id, at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
