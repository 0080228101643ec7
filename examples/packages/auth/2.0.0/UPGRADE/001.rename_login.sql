ALTER TABLE auth_user RENAME COLUMN login TO username;
