CREATE INDEX IF NOT EXISTS core_customer_email_idx ON core_customer (email);
