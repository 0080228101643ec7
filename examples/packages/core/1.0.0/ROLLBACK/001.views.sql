DROP VIEW IF EXISTS core_customer_v;
