CREATE INDEX IF NOT EXISTS reporting_snapshot_tenant_idx ON reporting_snapshot (tenant_id, taken_at);
