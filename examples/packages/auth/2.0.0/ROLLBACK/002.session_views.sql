DROP VIEW IF EXISTS auth_active_session_v;
