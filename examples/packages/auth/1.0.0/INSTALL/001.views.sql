-- Reads only tables of core (a prerequisite), never the views of core.
DROP VIEW IF EXISTS auth_user_v;
CREATE VIEW auth_user_v AS
SELECT u.id, u.login, u.customer_id, c.name AS customer_name, c.tenant_id
FROM auth_user u
JOIN core_customer c ON c.id = u.customer_id;
