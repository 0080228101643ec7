-- expires_at is a DATETIME here: a MariaDB TIMESTAMP ends in 2038.
CREATE TABLE IF NOT EXISTS auth_session (
  token CHAR(64) NOT NULL PRIMARY KEY,
  user_id INTEGER NOT NULL,
  created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  expires_at DATETIME NOT NULL,
  CONSTRAINT auth_session_user_fk FOREIGN KEY (user_id) REFERENCES auth_user (id)
) ENGINE = InnoDB;
