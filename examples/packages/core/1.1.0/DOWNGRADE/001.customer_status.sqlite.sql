-- SQLite (3.35+) has DROP COLUMN but no IF EXISTS: the script is transactional there.
ALTER TABLE core_customer DROP COLUMN status;
