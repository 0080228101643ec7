DROP FUNCTION IF EXISTS core_customer_count;
