CREATE INDEX IF NOT EXISTS billing_invoice_issued_idx ON billing_invoice (issued_at);
