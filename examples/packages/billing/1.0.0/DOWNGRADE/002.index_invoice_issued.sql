DROP INDEX IF EXISTS billing_invoice_issued_idx;
