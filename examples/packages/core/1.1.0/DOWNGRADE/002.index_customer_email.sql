DROP INDEX IF EXISTS core_customer_email_idx;
