ALTER TABLE auth_user DROP COLUMN email;
