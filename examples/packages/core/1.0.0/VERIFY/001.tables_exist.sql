-- Selecting from a missing table or column fails on every platform.
SELECT count(*) FROM core_tenant;
SELECT id, tenant_id, name, email FROM core_customer WHERE 1 = 0;
SELECT count(*) FROM core_customer_v;
