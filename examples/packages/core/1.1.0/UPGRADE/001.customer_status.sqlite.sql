-- SQLite has no ADD COLUMN IF NOT EXISTS: the script is transactional there.
ALTER TABLE core_customer ADD COLUMN status VARCHAR(20) NOT NULL DEFAULT 'active';
