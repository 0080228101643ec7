DROP TABLE IF EXISTS core_customer;
DROP TABLE IF EXISTS core_tenant;
