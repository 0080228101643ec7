-- IF NOT EXISTS: on MySQL/MariaDB, where DDL commits by itself, this script is also the
-- compensation of a failed DOWNGRADE/001.customer_status and must cope with a column still there.
ALTER TABLE core_customer ADD COLUMN IF NOT EXISTS status VARCHAR(20) NOT NULL DEFAULT 'active';
