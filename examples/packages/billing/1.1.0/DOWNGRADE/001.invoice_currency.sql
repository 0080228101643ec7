ALTER TABLE billing_invoice DROP COLUMN IF EXISTS currency;
