ALTER TABLE billing_invoice DROP COLUMN currency;
