SELECT id, customer_id, login, password_hash FROM auth_user WHERE 1 = 0;
SELECT count(*) FROM auth_role;
SELECT count(*) FROM auth_user_role;
SELECT count(*) FROM auth_user_v;
