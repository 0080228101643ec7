CREATE INDEX IF NOT EXISTS billing_payment_paid_idx ON billing_payment (paid_at);
