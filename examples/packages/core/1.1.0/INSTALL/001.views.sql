DROP VIEW IF EXISTS core_customer_v;
CREATE VIEW core_customer_v AS
SELECT c.id, c.tenant_id, t.name AS tenant_name, c.name, c.email, c.status
FROM core_customer c
JOIN core_tenant t ON t.id = c.tenant_id;

DROP VIEW IF EXISTS core_active_customer_v;
CREATE VIEW core_active_customer_v AS
SELECT c.id, c.tenant_id, c.name, c.email
FROM core_customer c
WHERE c.status = 'active';
