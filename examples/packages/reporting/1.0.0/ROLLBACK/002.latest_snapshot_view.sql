DROP VIEW IF EXISTS reporting_latest_snapshot_v;
