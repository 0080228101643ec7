INSERT INTO core_tenant (name)
SELECT 'default'
WHERE NOT EXISTS (SELECT 1 FROM core_tenant WHERE name = 'default');
