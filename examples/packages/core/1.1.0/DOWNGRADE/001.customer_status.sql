ALTER TABLE core_customer DROP COLUMN IF EXISTS status;
