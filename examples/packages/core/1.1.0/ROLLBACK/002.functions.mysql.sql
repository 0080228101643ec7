DROP FUNCTION IF EXISTS core_active_customer_count;
DROP FUNCTION IF EXISTS core_customer_count;
