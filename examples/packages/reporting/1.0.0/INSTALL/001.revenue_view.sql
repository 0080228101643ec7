-- Reads the tables of its prerequisites (billing, core), not their views.
DROP VIEW IF EXISTS reporting_revenue_v;
CREATE VIEW reporting_revenue_v AS
SELECT c.tenant_id, i.currency, count(*) AS invoice_count, SUM(i.amount) AS total_amount
FROM billing_invoice i
JOIN core_customer c ON c.id = i.customer_id
GROUP BY c.tenant_id, i.currency;
