DROP VIEW IF EXISTS billing_invoice_v;
CREATE VIEW billing_invoice_v AS
SELECT i.id, i.number, i.amount, i.currency, i.issued_at, i.customer_id,
       c.name AS customer_name, c.tenant_id,
       COALESCE((SELECT SUM(p.amount) FROM billing_payment p WHERE p.invoice_id = i.id), 0) AS paid_amount
FROM billing_invoice i
JOIN core_customer c ON c.id = i.customer_id;
