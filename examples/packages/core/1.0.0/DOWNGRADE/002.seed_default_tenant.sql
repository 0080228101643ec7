-- Removes the seeded tenant unless customers were attached to it since.
DELETE FROM core_tenant
WHERE name = 'default'
  AND NOT EXISTS (SELECT 1 FROM core_customer c WHERE c.tenant_id = core_tenant.id);
