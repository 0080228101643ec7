-- Plain CREATE INDEX here (no CONCURRENTLY), so both fit in one transactional script.
CREATE INDEX IF NOT EXISTS core_customer_email_idx ON core_customer (email);
CREATE UNIQUE INDEX IF NOT EXISTS core_tenant_name_uq ON core_tenant (name);
