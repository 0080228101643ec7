SELECT count(*) FROM reporting_snapshot;
SELECT count(*) FROM reporting_revenue_v;
SELECT count(*) FROM reporting_latest_snapshot_v;
