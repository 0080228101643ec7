DROP INDEX IF EXISTS billing_payment_paid_idx ON billing_payment;
