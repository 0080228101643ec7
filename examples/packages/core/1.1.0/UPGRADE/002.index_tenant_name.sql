CREATE UNIQUE INDEX IF NOT EXISTS core_tenant_name_uq ON core_tenant (name);
