SELECT count(*) FROM core_tenant;
SELECT id, tenant_id, name, email, status FROM core_customer WHERE 1 = 0;
SELECT count(*) FROM core_customer_v;
SELECT count(*) FROM core_active_customer_v;
