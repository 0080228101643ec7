DROP VIEW IF EXISTS billing_open_invoice_v;
