ALTER TABLE core_customer DROP COLUMN phone;
ALTER TABLE core_customer DROP COLUMN status;
