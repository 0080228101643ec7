DELETE FROM auth_user_role WHERE role_id IN (1, 2);
DELETE FROM auth_role WHERE id IN (1, 2);
