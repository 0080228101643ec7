DROP INDEX IF EXISTS core_tenant_name_uq ON core_tenant;
DROP INDEX IF EXISTS core_customer_email_idx ON core_customer;
