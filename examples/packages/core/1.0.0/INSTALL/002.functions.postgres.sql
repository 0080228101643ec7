-- SQL-standard function body: no dollar quoting, one statement.
CREATE OR REPLACE FUNCTION core_customer_count(p_tenant integer) RETURNS bigint
LANGUAGE sql STABLE
RETURN (SELECT count(*) FROM core_customer WHERE tenant_id = p_tenant);
