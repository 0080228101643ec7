-- MariaDB commits DDL by itself, so the twin must cope with a rename that never happened.
ALTER TABLE auth_user RENAME COLUMN IF EXISTS username TO login;
