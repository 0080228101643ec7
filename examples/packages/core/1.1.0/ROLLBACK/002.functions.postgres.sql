DROP FUNCTION IF EXISTS core_active_customer_count(integer);
DROP FUNCTION IF EXISTS core_customer_count(integer);
