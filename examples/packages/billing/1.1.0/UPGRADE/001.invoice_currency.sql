-- Existing invoices get the currency of the release, and so do new ones that name none.
ALTER TABLE billing_invoice ADD COLUMN IF NOT EXISTS currency CHAR(3) NOT NULL DEFAULT '${currency}';
