INSERT INTO auth_role (id, name) VALUES (1, 'admin'), (2, 'member');
