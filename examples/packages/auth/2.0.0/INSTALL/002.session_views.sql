DROP VIEW IF EXISTS auth_active_session_v;
CREATE VIEW auth_active_session_v AS
SELECT s.token, s.user_id, u.username, s.expires_at
FROM auth_session s
JOIN auth_user u ON u.id = s.user_id
WHERE s.expires_at > CURRENT_TIMESTAMP;
