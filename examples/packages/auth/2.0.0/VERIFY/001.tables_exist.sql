SELECT id, customer_id, username, email, password_hash FROM auth_user WHERE 1 = 0;
SELECT count(*) FROM auth_role;
SELECT count(*) FROM auth_session;
SELECT count(*) FROM auth_user_v;
SELECT count(*) FROM auth_active_session_v;
