DROP INDEX IF EXISTS core_tenant_name_uq;
DROP INDEX IF EXISTS core_customer_email_idx;
