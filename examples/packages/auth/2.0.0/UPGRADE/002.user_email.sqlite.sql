-- SQLite has no ADD COLUMN IF NOT EXISTS: the script is transactional there.
ALTER TABLE auth_user ADD COLUMN email VARCHAR(200);
