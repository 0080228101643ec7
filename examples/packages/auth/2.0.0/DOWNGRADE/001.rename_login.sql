-- PostgreSQL and SQLite run this inside a transaction, so a half-done rename cannot happen.
ALTER TABLE auth_user RENAME COLUMN username TO login;
