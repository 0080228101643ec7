DROP VIEW IF EXISTS core_customer_address_v;
DROP VIEW IF EXISTS core_active_customer_v;
DROP VIEW IF EXISTS core_customer_v;
