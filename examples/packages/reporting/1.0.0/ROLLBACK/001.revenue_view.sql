DROP VIEW IF EXISTS reporting_revenue_v;
