-- Harmless check, outside the transaction of the change: fails early when core is missing.
SELECT count(*) FROM core_tenant;
