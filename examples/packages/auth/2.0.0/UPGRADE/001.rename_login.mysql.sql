-- MariaDB commits DDL by itself: this script is also the compensation of a failed
-- DOWNGRADE/001.rename_login, so it must cope with a rename that already happened.
ALTER TABLE auth_user RENAME COLUMN IF EXISTS login TO username;
