DROP INDEX IF EXISTS core_tenant_name_uq ON core_tenant;
