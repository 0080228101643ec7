DROP VIEW IF EXISTS auth_user_v;
