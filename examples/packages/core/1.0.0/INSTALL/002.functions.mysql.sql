-- A single RETURN body needs no BEGIN ... END, hence no DELIMITER.
CREATE OR REPLACE FUNCTION core_customer_count(p_tenant INTEGER) RETURNS BIGINT
READS SQL DATA
RETURN (SELECT count(*) FROM core_customer WHERE tenant_id = p_tenant);
