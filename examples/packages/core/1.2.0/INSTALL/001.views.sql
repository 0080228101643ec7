DROP VIEW IF EXISTS core_customer_v;
CREATE VIEW core_customer_v AS
SELECT c.id, c.tenant_id, t.name AS tenant_name, c.name, c.email, c.phone, c.status
FROM core_customer c
JOIN core_tenant t ON t.id = c.tenant_id;

DROP VIEW IF EXISTS core_active_customer_v;
CREATE VIEW core_active_customer_v AS
SELECT c.id, c.tenant_id, c.name, c.email, c.phone
FROM core_customer c
WHERE c.status = 'active';

DROP VIEW IF EXISTS core_customer_address_v;
CREATE VIEW core_customer_address_v AS
SELECT a.id, a.customer_id, c.name AS customer_name, a.line1, a.city, a.country
FROM core_address a
JOIN core_customer c ON c.id = a.customer_id;
