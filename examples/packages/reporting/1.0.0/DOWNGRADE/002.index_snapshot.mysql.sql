DROP INDEX IF EXISTS reporting_snapshot_tenant_idx ON reporting_snapshot;
