DROP TABLE IF EXISTS reporting_snapshot;
