-- SQLite adds one column per ALTER TABLE.
ALTER TABLE core_customer ADD COLUMN status VARCHAR(20) NOT NULL DEFAULT 'active';
ALTER TABLE core_customer ADD COLUMN phone VARCHAR(40);
