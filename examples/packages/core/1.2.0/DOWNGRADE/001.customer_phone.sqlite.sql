ALTER TABLE core_customer DROP COLUMN phone;
