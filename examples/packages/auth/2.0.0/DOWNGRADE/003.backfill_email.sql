-- Undoes the backfill: the column itself goes with DOWNGRADE/002.user_email.
UPDATE auth_user SET email = NULL WHERE email IS NOT NULL;
