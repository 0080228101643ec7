DROP VIEW IF EXISTS reporting_latest_snapshot_v;
CREATE VIEW reporting_latest_snapshot_v AS
SELECT s.tenant_id, s.currency, s.taken_at, s.invoice_count, s.total_amount
FROM reporting_snapshot s
WHERE s.taken_at = (SELECT MAX(s2.taken_at) FROM reporting_snapshot s2
                    WHERE s2.tenant_id = s.tenant_id AND s2.currency = s.currency);
