-- 004: pending OAuth authorizations. The callback consumes a state with one
-- atomic UPDATE ... SET used_at = ... WHERE used_at IS NULL AND expires_at > NOW.
CREATE TABLE IF NOT EXISTS oauth_states (
  nonce_sha256 BINARY(32) NOT NULL PRIMARY KEY,
  org_id VARCHAR(128) NOT NULL,
  destination_id CHAR(36) CHARACTER SET ascii NOT NULL,
  provider VARCHAR(32) CHARACTER SET ascii NOT NULL,
  actor VARCHAR(255) NOT NULL,
  verifier_ciphertext VARBINARY(1024) NOT NULL,
  key_id VARCHAR(32) CHARACTER SET ascii NOT NULL,
  created_at DATETIME(3) NOT NULL,
  expires_at DATETIME(3) NOT NULL,
  used_at DATETIME(3) NULL,
  KEY ix_oauth_states_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
