CREATE TABLE IF NOT EXISTS auth_user (
  id INTEGER PRIMARY KEY,
  customer_id INTEGER NOT NULL,
  login VARCHAR(100) NOT NULL,
  password_hash VARCHAR(200) NOT NULL,
  created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT auth_user_login_uq UNIQUE (login),
  CONSTRAINT auth_user_customer_fk FOREIGN KEY (customer_id) REFERENCES core_customer (id)
);

CREATE TABLE IF NOT EXISTS auth_role (
  id INTEGER NOT NULL PRIMARY KEY,
  name VARCHAR(50) NOT NULL,
  CONSTRAINT auth_role_name_uq UNIQUE (name)
);

CREATE TABLE IF NOT EXISTS auth_user_role (
  user_id INTEGER NOT NULL,
  role_id INTEGER NOT NULL,
  PRIMARY KEY (user_id, role_id),
  CONSTRAINT auth_user_role_user_fk FOREIGN KEY (user_id) REFERENCES auth_user (id),
  CONSTRAINT auth_user_role_role_fk FOREIGN KEY (role_id) REFERENCES auth_role (id)
);
