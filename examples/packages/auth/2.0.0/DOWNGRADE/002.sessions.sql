DROP TABLE IF EXISTS auth_session;
