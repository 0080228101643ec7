DROP VIEW IF EXISTS billing_open_invoice_v;
CREATE VIEW billing_open_invoice_v AS
SELECT id, number, customer_id, customer_name, currency, amount - paid_amount AS due_amount
FROM billing_invoice_v
WHERE paid_amount < amount;
