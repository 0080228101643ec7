DROP VIEW IF EXISTS billing_invoice_v;
