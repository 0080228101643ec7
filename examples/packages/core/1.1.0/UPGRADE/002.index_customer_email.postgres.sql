-- One statement only: CONCURRENTLY cannot share a transaction block with anything.
CREATE INDEX CONCURRENTLY IF NOT EXISTS core_customer_email_idx ON core_customer (email);
