-- INTEGER PRIMARY KEY is the rowid alias of SQLite: it numbers new rows by itself.
CREATE TABLE IF NOT EXISTS core_tenant (
  id INTEGER PRIMARY KEY,
  name VARCHAR(100) NOT NULL,
  created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS core_customer (
  id INTEGER PRIMARY KEY,
  tenant_id INTEGER NOT NULL,
  name VARCHAR(200) NOT NULL,
  email VARCHAR(200),
  created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT core_customer_tenant_fk FOREIGN KEY (tenant_id) REFERENCES core_tenant (id)
);
